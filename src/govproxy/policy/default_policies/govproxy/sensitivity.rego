# Sensitivity: critical (or unknown) data stays on local providers; internal and
# confidential data is pseudonymised before it leaves for a cloud provider.
package govproxy.sensitivity

import rego.v1

import data.govproxy.lib

rule := "govproxy.sensitivity"

exclude contains {
	"provider": p.name,
	"code": "sensitivity",
	"rule": rule,
	"message": sprintf("%s data may only be sent to a local provider; %s is not local", [lib.sensitivity, p.name]),
} if {
	lib.must_stay_local
	some p in lib.providers
	not p.local
}

pseudonymise_before_leaving if lib.sensitivity in {"internal", "confidential"}

# Redaction for a request that goes to `target` (a provider object).
redact_for(target) := {t: "pseudonymise" | some t, _ in input.dlp.finding_types} if {
	pseudonymise_before_leaving
	not target.local
} else := {}

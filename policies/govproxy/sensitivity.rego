# Sensitivity: critical (or unknown) data stays on local providers; internal and
# confidential data is pseudonymised before it leaves for a cloud provider.
package govproxy.sensitivity

import rego.v1

import data.govproxy.lib

rule := "govproxy.sensitivity"

exclude(inp, provs) := [r |
	lib.must_stay_local(inp)
	level := lib.sensitivity(inp)
	some p in provs
	not p.local
	r := {
		"provider": p.name,
		"code": "sensitivity",
		"rule": rule,
		"message": sprintf("%s data may only be sent to a local provider; %s is not local", [level, p.name]),
	}
]

# Redaction for a request that goes to `target` (a provider object).
redact_for(inp, target) := {t: "pseudonymise" | some t, _ in inp.dlp.finding_types} if {
	lib.sensitivity(inp) in {"internal", "confidential"}
	not target.local
} else := {}

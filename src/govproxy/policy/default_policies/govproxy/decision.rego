# The decision govproxy enforces (data.govproxy.decision, schema: policies/README.md).
#
# Each policy module contributes two kinds of verdict:
#   deny    - the request itself may not go anywhere (e.g. a model the tenant may not use);
#   exclude - one provider may not take it (e.g. a cloud provider for critical data).
# The request goes where the app asked when that provider is not excluded; otherwise to
# the best usable provider that is not excluded; otherwise it is denied, naming the rules
# that excluded the provider the app asked for.
package govproxy

import rego.v1

import data.govproxy.access
import data.govproxy.budget
import data.govproxy.endpoints
import data.govproxy.lib
import data.govproxy.residency
import data.govproxy.sensitivity

excludes := ((sensitivity.exclude | residency.exclude) | access.exclude) | budget.exclude

request_denials := (access.deny | budget.deny) | endpoints.deny

excluded_names := {r.provider | some r in excludes}

provider_named(name) := p if {
	some p in lib.providers
	p.name == name
}

requested := provider_named(lib.requested)

requested_ok if not lib.requested in excluded_names

# Prefer the same wire format, then a cloud provider over a local one unless the data
# must stay local (local models are the fallback, not the upgrade), then the cheaper
# provider, then the name (a stable order).
rank(p) := [kind_rank(p), local_rank(p), p.price_in + p.price_out, p.name]

kind_rank(p) := 0 if p.kind == input.request.provider_kind

else := 1

local_rank(p) := 1 if {
	p.local
	not lib.must_stay_local
} else := 0

alternatives := [provider_named(x[3]) |
	some x in sort([rank(p) |
		some p in lib.providers
		p.name != lib.requested
		not p.name in excluded_names
		lib.usable(p)
	])
]

target := requested if requested_ok

else := alternatives[0]

default allow := false

allow if {
	count(request_denials) == 0
	target
}

strip(r) := {"code": r.code, "rule": r.rule, "message": r.message}

# Reasons, most specific first: the request's own denials, else why the provider the
# app asked for was excluded, when no other provider could take the request.
deny_reasons := [strip(r) | some r in request_denials] if count(request_denials) > 0

else := array.concat(
	[strip(r) | some r in excludes; r.provider == lib.requested],
	[{
		"code": first_code,
		"rule": "govproxy.route",
		"message": "no other configured provider may take this request",
	}],
) if not allow

else := []

first_code := [r.code | some r in excludes; r.provider == lib.requested][0]

route := null if {
	not allow
} else := null if {
	requested_ok
} else := {"provider": target.name, "model": target.model}

candidates := [] if not allow

else := [{"provider": p.name, "model": p.model} | some p in alternatives; p.name != target.name]

redact := {} if not allow

else := sensitivity.redact_for(target)

audit_content := "none" if lib.sensitivity in {"critical", "unknown", "confidential"}

else := input.params.audit_content

rules_fired := sort([r | some r in fired])

fired contains r.rule if {
	some r in excludes
	r.provider == lib.requested
}

fired contains r.rule if some r in request_denials

fired contains "govproxy.route" if {
	allow
	not requested_ok
}

fired contains "govproxy.sensitivity.pseudonymise" if count(redact) > 0

explanation := array.concat(
	[r.message | some r in excludes; r.provider == lib.requested],
	rerouted_note,
)

rerouted_note := [sprintf("routed to %s (%s)", [target.name, target.region])] if {
	allow
	not requested_ok
} else := []

decision := {
	"allow": allow,
	"deny": deny_reasons,
	"route": route,
	"candidates": candidates,
	"redact": redact,
	"obligations": {"audit_content": audit_content},
	"rules_fired": rules_fired,
	"explanation": explanation,
}

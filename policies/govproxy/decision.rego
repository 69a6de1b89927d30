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

decision := decide(input)

# Input fields no rule in this policy set reads. govproxy may reuse a decision for a
# request that differs from a recent one only in these (policy.cache_ttl_s), which is
# what makes the decision cache hit on live traffic. Remove a field from this list as
# soon as a rule starts reading it.
cache_ignore := [
	"env.time",
	"caller.source",
	"caller.app",
	"caller.authenticated",
	"request.token_estimate",
	"request.images",
	"request.stream",
]

# Micro-USD per million tokens (in + out) as a zero-padded integer, so that text order is
# numeric order. (%d, not %f: OPA hands whole numbers to sprintf as integers.)
price_key(p) := sprintf("%020d", [round((p.price_in + p.price_out) * 1000000)])

decide(inp) := d if {
	provs := lib.providers(inp)
	requested := inp.request.provider
	excludes := array.concat(array.concat(sensitivity.exclude(inp, provs), residency.exclude(inp, provs)), array.concat(access.exclude(inp, provs), budget.exclude(inp, provs)))
	denials := (access.deny(inp) | budget.deny(inp)) | endpoints.deny(inp)
	unavailable := {r.provider | some r in excludes} | {requested}
	stay_local := lib.stays_local(inp)
	kind := inp.request.provider_kind

	# Prefer the same wire format, then a cloud provider over a local one unless the
	# data must stay local (local models are the fallback, not the upgrade), then the
	# cheaper provider, then the name (a stable order). The last element is the
	# provider's position in `provs`. (`set[x]` rather than `x in set`: in regopy a
	# built-in call such as `in` costs several times a lookup.) The price is compared as
	# a fixed-width string: regopy 1.5.2's sort() orders numbers as text (25 before 5).
	ranked := sort([[kind_rank(kind, p), local_rank(stay_local, p), price_key(p), name, i] |
		some i
		p := provs[i]
		name := p.name
		not unavailable[name]
		lib.usable(p)
	])
	alternatives := [provs[x[4]] | some x in ranked]
	own := [r | some r in excludes; r.provider == requested]
	requested_ok := count(own) == 0
	target := pick_target(requested_ok, lib.requested(inp, provs), alternatives)
	allow := allowed(denials, target)
	redact := redaction(inp, allow, target)

	d := {
		"allow": allow,
		"deny": reasons(allow, denials, own),
		"route": route(allow, requested_ok, target),
		"candidates": candidates(allow, alternatives, target),
		"redact": redact,
		"obligations": {"audit_content": audit_content(inp)},
		"rules_fired": sort(((({r.rule | some r in own} | {r.rule | some r in denials}) | route_fired(allow, requested_ok)) | redact_fired(redact))),
		"explanation": array.concat([r.message | some r in own], route_note(allow, requested_ok, target)),
	}
}

kind_rank(kind, p) := 0 if p.kind == kind

else := 1

local_rank(stay_local, p) := 1 if {
	p.local
	not stay_local
} else := 0

pick_target(true, requested, _) := requested

pick_target(false, _, alternatives) := alternatives[0] if count(alternatives) > 0

pick_target(false, _, alternatives) := null if count(alternatives) == 0

allowed(denials, target) := true if {
	count(denials) == 0
	target != null
} else := false

strip(r) := {"code": r.code, "rule": r.rule, "message": r.message}

# Reasons, most specific first: the request's own denials, else why the provider the
# app asked for was excluded, when no other provider could take the request.
reasons(true, _, _) := []

reasons(false, denials, _) := [strip(r) | some r in denials] if count(denials) > 0

reasons(false, denials, own) := array.concat([strip(r) | some r in own], [{
	"code": own[0].code,
	"rule": "govproxy.route",
	"message": "no other configured provider may take this request",
}]) if {
	count(denials) == 0
	count(own) > 0
}

reasons(false, denials, own) := [{
	"code": "no_provider",
	"rule": "govproxy.route",
	"message": "no usable provider may take this request",
}] if {
	count(denials) == 0
	count(own) == 0
}

route(false, _, _) := null

route(true, true, _) := null

route(true, false, target) := {"provider": target.name, "model": target.model}

candidates(false, _, _) := []

candidates(true, alternatives, target) := [{"provider": p.name, "model": p.model} |
	some p in alternatives
	p.name != target.name
]

redaction(_, false, _) := {}

redaction(inp, true, target) := sensitivity.redact_for(inp, target)

audit_content(inp) := "none" if {
	lib.sensitivity(inp) in {"critical", "unknown", "confidential"}
} else := inp.params.audit_content

route_fired(true, false) := {"govproxy.route"}

route_fired(false, _) := set()

route_fired(true, true) := set()

redact_fired(redact) := {"govproxy.sensitivity.pseudonymise"} if count(redact) > 0

else := set()

route_note(true, false, target) := [sprintf("routed to %s (%s)", [target.name, target.region])]

route_note(false, _, _) := []

route_note(true, true, _) := []

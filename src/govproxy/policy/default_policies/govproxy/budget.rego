# Budgets: an exhausted tenant budget denies (or, with params.budget_action
# "downgrade", keeps the request on free local providers); an exhausted provider
# budget takes that provider out of the running.
package govproxy.budget

import rego.v1

rule := "govproxy.budget"

deny(inp) := {{
	"code": "budget",
	"rule": rule,
	"message": sprintf("tenant %s has exhausted its budget", [inp.tenant.name]),
}} if {
	inp.budget.tenant.exhausted
	inp.params.budget_action == "deny"
} else := set()

exclude(inp, provs) := array.concat([r |
	inp.budget.tenant.exhausted
	inp.params.budget_action == "downgrade"
	some p in provs
	not p.local
	r := {
		"provider": p.name,
		"code": "budget",
		"rule": rule,
		"message": sprintf("tenant %s has exhausted its budget: only local providers remain", [inp.tenant.name]),
	}
], [r |
	some p in provs
	p.budget.exhausted
	r := {
		"provider": p.name,
		"code": "budget",
		"rule": rule,
		"message": sprintf("provider %s has exhausted its budget", [p.name]),
	}
])

# Budgets: an exhausted tenant budget denies (or, with params.budget_action
# "downgrade", keeps the request on free local providers); an exhausted provider
# budget takes that provider out of the running.
package govproxy.budget

import rego.v1

import data.govproxy.lib

rule := "govproxy.budget"

tenant_exhausted if input.budget.tenant.exhausted

deny contains {
	"code": "budget",
	"rule": rule,
	"message": sprintf("tenant %s has exhausted its budget", [input.tenant.name]),
} if {
	tenant_exhausted
	input.params.budget_action == "deny"
}

exclude contains {
	"provider": p.name,
	"code": "budget",
	"rule": rule,
	"message": sprintf("tenant %s has exhausted its budget: only local providers remain", [input.tenant.name]),
} if {
	tenant_exhausted
	input.params.budget_action == "downgrade"
	some p in lib.providers
	not p.local
}

exclude contains {
	"provider": p.name,
	"code": "budget",
	"rule": rule,
	"message": sprintf("provider %s has exhausted its budget", [p.name]),
} if {
	some p in lib.providers
	p.budget.exhausted
}

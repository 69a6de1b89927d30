package govproxy.budget_test

import rego.v1

import data.govproxy
import data.govproxy.fixtures_test as f

exhausted := f.merge(f.base, {"budget": {"tenant": {"exhausted": true, "warn": true}}})

test_exhausted_tenant_budget_denies if {
	d := govproxy.decide(exhausted)
	not d.allow
	d.deny[0].code == "budget"
	d.deny[0].rule == "govproxy.budget"
}

test_downgrade_routes_to_local if {
	d := govproxy.decide(f.merge(exhausted, {"params": object.union(f.base.params, {"budget_action": "downgrade"})}))
	d.allow
	d.route.provider == "local"
}

test_exhausted_provider_budget_reroutes if {
	spent := object.union(f.openai, {"budget": {"exhausted": true, "warn": true}})
	d := govproxy.decide(f.merge(f.base, {"providers": [spent, f.mistral, f.local]}))
	d.allow
	d.route.provider == "mistral"
}

test_budget_warning_alone_changes_nothing if {
	d := govproxy.decide(f.merge(f.base, {"budget": {"tenant": {"exhausted": false, "warn": true}}}))
	d.allow
	d.route == null
}

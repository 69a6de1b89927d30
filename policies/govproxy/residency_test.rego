package govproxy.residency_test

import rego.v1

import data.govproxy.fixtures_test as f

eu_only := f.with_tenant({"residency": ["eu"]})

test_us_provider_rerouted_to_eu_provider if {
	inp := eu_only
	d := data.govproxy.decision with input as inp
	d.allow
	d.route == {"provider": "mistral", "model": "mistral-large"}
	"govproxy.residency" in d.rules_fired
}

test_no_allowed_region_denies_with_residency if {
	inp := f.merge(eu_only, {"providers": [f.openai, f.groq]})
	d := data.govproxy.decision with input as inp
	not d.allow
	d.deny[0].code == "residency"
	d.deny[0].rule == "govproxy.residency"
	count([r | some r in d.deny; r.code != "residency"]) == 0
}

test_local_satisfies_residency if {
	inp := f.merge(eu_only, {"providers": [f.openai, f.local]})
	d := data.govproxy.decision with input as inp
	d.route.provider == "local"
}

test_failover_candidates_respect_residency if {
	inp := eu_only
	d := data.govproxy.decision with input as inp
	every c in d.candidates {
		c.provider in {"local", "mistral"}
	}
}

test_allowed_region_stays_as_requested if {
	d := data.govproxy.decision with input as f.with_tenant({"residency": ["us", "eu"]})
	d.allow
	d.route == null
}

test_no_residency_means_any_region if {
	inp := f.base
	d := data.govproxy.decision with input as inp
	d.route == null
}

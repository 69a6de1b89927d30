package govproxy.residency_test

import rego.v1

import data.govproxy
import data.govproxy.fixtures_test as f

eu_only := f.with_tenant({"residency": ["eu"]})

test_us_provider_rerouted_to_eu_provider if {
	d := govproxy.decide(eu_only)
	d.allow
	d.route == {"provider": "mistral", "model": "mistral-large"}
	"govproxy.residency" in d.rules_fired
}

test_no_allowed_region_denies_with_residency if {
	d := govproxy.decide(f.merge(eu_only, {"providers": [f.openai, f.groq]}))
	not d.allow
	d.deny[0].code == "residency"
	d.deny[0].rule == "govproxy.residency"
	count([r | some r in d.deny; r.code != "residency"]) == 0
}

test_local_satisfies_residency if {
	d := govproxy.decide(f.merge(eu_only, {"providers": [f.openai, f.local]}))
	d.route.provider == "local"
}

test_failover_candidates_respect_residency if {
	d := govproxy.decide(eu_only)
	every c in d.candidates {
		c.provider in {"local", "mistral"}
	}
}

test_allowed_region_stays_as_requested if {
	d := govproxy.decide(f.with_tenant({"residency": ["us", "eu"]}))
	d.allow
	d.route == null
}

test_no_residency_means_any_region if {
	d := govproxy.decide(f.base)
	d.route == null
}

package govproxy.access_test

import rego.v1

import data.govproxy
import data.govproxy.fixtures_test as f

test_denied_provider if {
	d := govproxy.decide(f.with_tenant({"deny_providers": ["openai"]}))
	not d.allow
	d.deny[0].code == "provider_not_allowed"
	d.deny[0].rule == "govproxy.access"
}

test_provider_outside_allow_list if {
	d := govproxy.decide(f.with_tenant({"allow_providers": ["mistral"]}))
	not d.allow
	d.deny[0].code == "provider_not_allowed"
}

test_allow_list_filters_candidates if {
	d := govproxy.decide(f.with_tenant({"allow_providers": ["openai", "groq"]}))
	d.allow
	d.candidates == [{"provider": "groq", "model": "llama-70b"}]
}

test_denied_model if {
	d := govproxy.decide(f.with_tenant({"deny_models": ["gpt-4o"]}))
	not d.allow
	d.deny[0].code == "model_not_allowed"
}

test_model_outside_allow_list if {
	d := govproxy.decide(f.with_tenant({"allow_models": ["gpt-4o-mini"]}))
	not d.allow
	d.deny[0].code == "model_not_allowed"
}

test_denied_provider_is_never_a_reroute_target if {
	d := govproxy.decide(f.merge(f.with_tenant({"residency": ["eu"], "deny_providers": ["mistral"]}), {"providers": [f.openai, f.mistral]}))
	not d.allow
	d.deny[0].code == "residency"
}

test_denied_model_is_never_a_reroute_target if {
	tenant := f.with_tenant({"residency": ["eu"], "deny_models": ["mistral-large"]})
	d := govproxy.decide(f.merge(tenant, {"providers": [f.openai, f.mistral, f.local]}))
	d.allow
	d.route.provider == "local"
	d.candidates == []
}

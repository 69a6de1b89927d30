package govproxy.endpoints_test

import rego.v1

import data.govproxy
import data.govproxy.fixtures_test as f

unknown_endpoint := f.merge(f.base, {"request": object.union(f.base.request, {"endpoint": "unknown", "path": "/v1/files"})})

unknown_provider := f.merge(f.base, {"request": object.union(f.base.request, {"provider": "acme-llm"})})

test_unknown_endpoint_allowed_by_default if {
	d := govproxy.decide(unknown_endpoint)
	d.allow
}

test_unknown_endpoint_denied_by_config if {
	d := govproxy.decide(f.merge(unknown_endpoint, {"params": object.union(f.base.params, {"deny_unknown_endpoints": true})}))
	not d.allow
	d.deny[0].code == "unknown_endpoint"
}

test_unknown_provider_allowed_by_default if {
	d := govproxy.decide(unknown_provider)
	d.allow
	d.route == null
}

test_unknown_provider_denied_by_config if {
	d := govproxy.decide(f.merge(unknown_provider, {"params": object.union(f.base.params, {"deny_unknown_providers": true})}))
	not d.allow
	d.deny[0].code == "unknown_provider"
}

test_unknown_provider_is_not_trusted_with_critical_data if {
	d := govproxy.decide(f.merge(unknown_provider, {"dlp": {"sensitivity": "critical", "finding_types": {"PRIVATE_KEY": 1}, "categories": ["secret"], "errors": false}}))
	d.route.provider == "local"
}

test_unknown_region_fails_residency if {
	d := govproxy.decide(f.merge(unknown_provider, {"tenant": object.union(f.base.tenant, {"residency": ["us"]})}))
	d.route.provider != "acme-llm"
}

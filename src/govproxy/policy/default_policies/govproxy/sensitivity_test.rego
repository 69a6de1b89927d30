package govproxy.sensitivity_test

import rego.v1

import data.govproxy
import data.govproxy.fixtures_test as f

test_critical_routes_to_local if {
	d := govproxy.decide(f.with_dlp("critical", {"PRIVATE_KEY": 1}))
	d.allow
	d.route.provider == "local"
	"govproxy.sensitivity" in d.rules_fired
}

test_critical_without_local_provider_is_denied if {
	d := govproxy.decide(f.merge(f.with_dlp("critical", {"PRIVATE_KEY": 1}), {"providers": [f.openai, f.mistral]}))
	not d.allow
	d.deny[0].code == "sensitivity"
	d.deny[0].rule == "govproxy.sensitivity"
	d.route == null
	d.candidates == []
}

test_critical_with_unhealthy_local_is_denied if {
	sick := object.union(f.local, {"healthy": false})
	d := govproxy.decide(f.merge(f.with_dlp("critical", {"PRIVATE_KEY": 1}), {"providers": [f.openai, sick]}))
	not d.allow
}

test_critical_never_offers_cloud_failover if {
	d := govproxy.decide(f.with_dlp("critical", {"AWS_KEY": 1}))
	every c in d.candidates {
		c.provider == "local"
	}
}

test_unknown_sensitivity_is_treated_as_critical if {
	d := govproxy.decide(f.with_dlp("weird", {}))
	d.route.provider == "local"
}

test_detector_error_is_treated_as_critical if {
	d := govproxy.decide(f.merge(f.base, {"dlp": {"sensitivity": "public", "finding_types": {}, "categories": [], "errors": true}}))
	d.route.provider == "local"
}

test_confidential_is_pseudonymised_before_leaving if {
	d := govproxy.decide(f.with_dlp("confidential", {"EMAIL": 2, "IBAN": 1}))
	d.allow
	d.route == null
	d.redact == {"EMAIL": "pseudonymise", "IBAN": "pseudonymise"}
	d.obligations.audit_content == "none"
}

test_internal_is_pseudonymised if {
	d := govproxy.decide(f.with_dlp("internal", {"PERSON": 1}))
	d.redact == {"PERSON": "pseudonymise"}
	d.obligations.audit_content == "redacted"
}

test_public_is_not_redacted if {
	d := govproxy.decide(f.with_dlp("public", {}))
	d.allow
	d.redact == {}
	d.route == null
}

test_internal_to_local_needs_no_redaction if {
	d := govproxy.decide(f.merge(f.with_dlp("internal", {"PERSON": 1}), {"request": object.union(f.base.request, {"provider": "local"})}))
	d.allow
	d.redact == {}
}

package govproxy.decision_test

import rego.v1

import data.govproxy
import data.govproxy.fixtures_test as f

test_plain_request_goes_where_asked if {
	d := govproxy.decide(f.base)
	d.allow
	d.deny == []
	d.route == null
}

test_candidates_never_include_the_target if {
	d := govproxy.decide(f.with_tenant({"residency": ["eu"]}))
	every c in d.candidates {
		c.provider != d.route.provider
	}
}

test_candidates_prefer_same_format_then_cloud_then_price if {
	d := govproxy.decide(f.base)
	[c.provider | some c in d.candidates] == ["groq", "mistral", "local"]
}

test_open_circuit_is_not_a_candidate if {
	down := object.union(f.groq, {"circuit": "open"})
	d := govproxy.decide(f.with_providers([f.openai, down, f.mistral]))
	[c.provider | some c in d.candidates] == ["mistral"]
}

test_denial_has_no_route_or_redaction if {
	d := govproxy.decide(f.with_tenant({"deny_providers": ["openai"]}))
	d.route == null
	d.candidates == []
	d.redact == {}
}

test_decision_shape if {
	d := govproxy.decide(f.base)
	object.keys(d) == {"allow", "deny", "route", "candidates", "redact", "obligations", "rules_fired", "explanation"}
}

# Prices that order differently as text and as numbers (12.5 + 12.5 = 25 < 2.5 + 2.5 = 5
# as text; regopy 1.5.2's sort() compares numbers as text): the cheaper one must win.
test_candidates_rank_prices_as_numbers if {
	dear := f.provider("dear", "openai-compatible", "us", false, "m", 12.5)
	cheap := f.provider("cheap", "openai-compatible", "us", false, "m", 2.5)
	d := govproxy.decide(f.with_providers([f.openai, dear, cheap]))
	[c.provider | some c in d.candidates] == ["cheap", "dear"]
}

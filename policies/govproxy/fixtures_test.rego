# Shared test inputs for the govproxy policy tests (input schema version 1).
package govproxy.fixtures_test

import rego.v1

provider(name, kind, region, is_local, model, price) := {
	"name": name,
	"kind": kind,
	"region": region,
	"local": is_local,
	"healthy": true,
	"circuit": "closed",
	"compatible": true,
	"model": model,
	"price_in": price,
	"price_out": price,
	"budget": {"exhausted": false, "warn": false},
}

openai := provider("openai", "openai", "us", false, "gpt-4o", 2.5)

mistral := provider("mistral", "openai-compatible", "eu", false, "mistral-large", 2)

groq := provider("groq", "openai-compatible", "us", false, "llama-70b", 0.6)

local := provider("local", "openai-compatible", "local", true, "llama3", 0)

base := {
	"version": 1,
	"request": {
		"provider": "openai", "provider_kind": "openai", "endpoint": "chat",
		"host": "api.openai.com", "path": "/v1/chat/completions", "method": "POST",
		"model": "gpt-4o", "stream": false, "token_estimate": 100, "images": 0, "parse_error": false,
	},
	"dlp": {"sensitivity": "public", "finding_types": {}, "categories": [], "errors": false},
	"caller": {"tenant": "acme", "app": null, "source": "127.0.0.1:50000", "authenticated": true},
	"tenant": {
		"name": "acme", "known": true, "residency": null,
		"allow_providers": null, "deny_providers": [], "allow_models": null, "deny_models": [],
	},
	"providers": [openai, mistral, groq, local],
	"budget": {"tenant": {"exhausted": false, "warn": false}},
	"env": {"time": "2026-11-22T03:00:00Z", "mode": "proxy"},
	"params": {
		"deny_unknown_endpoints": false, "deny_unknown_providers": false,
		"budget_action": "deny", "audit_content": "redacted",
	},
}

with_dlp(sensitivity, types) := object.union(base, {"dlp": {"sensitivity": sensitivity, "finding_types": types}})

with_tenant(patch) := object.union(base, {"tenant": object.union(base.tenant, patch)})

with_providers(list) := object.union(base, {"providers": list})

merge(doc, patch) := object.union(doc, patch)

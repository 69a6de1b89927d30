# Per-tenant provider and model allow/deny lists (tenants.<name> in govproxy.yaml).
# Asking for a provider or model the tenant may not use is denied outright; other
# providers a tenant may not use are never offered as a reroute or failover target.
package govproxy.access

import rego.v1

rule := "govproxy.access"

provider_allowed(tenant, name) if {
	tenant.allow_providers == null
	not name in tenant.deny_providers
}

provider_allowed(tenant, name) if {
	name in tenant.allow_providers
	not name in tenant.deny_providers
}

model_allowed(_, model) if model == null

model_allowed(tenant, model) if {
	model != null
	tenant.allow_models == null
	not model in tenant.deny_models
}

model_allowed(tenant, model) if {
	model != null
	model in tenant.allow_models
	not model in tenant.deny_models
}

deny(inp) := provider_denials(inp) | model_denials(inp)

provider_denials(inp) := {{
	"code": "provider_not_allowed",
	"rule": rule,
	"message": sprintf("tenant %s may not use provider %s", [inp.tenant.name, inp.request.provider]),
}} if {
	not provider_allowed(inp.tenant, inp.request.provider)
} else := set()

model_denials(inp) := {{
	"code": "model_not_allowed",
	"rule": rule,
	"message": sprintf("tenant %s may not use model %s", [inp.tenant.name, inp.request.model]),
}} if {
	not model_allowed(inp.tenant, inp.request.model)
} else := set()

# A tenant without lists (the common case) excludes nothing: skip the scan.
restricts_providers(tenant) if tenant.allow_providers != null

restricts_providers(tenant) if count(tenant.deny_providers) > 0

restricts_models(tenant) if tenant.allow_models != null

restricts_models(tenant) if count(tenant.deny_models) > 0

exclude(inp, provs) := array.concat([r |
	restricts_providers(inp.tenant)
	some p in provs
	not provider_allowed(inp.tenant, p.name)
	r := {
		"provider": p.name,
		"code": "provider_not_allowed",
		"rule": rule,
		"message": sprintf("tenant %s may not use provider %s", [inp.tenant.name, p.name]),
	}
], [r |
	restricts_models(inp.tenant)
	some p in provs
	not model_allowed(inp.tenant, p.model)
	r := {
		"provider": p.name,
		"code": "model_not_allowed",
		"rule": rule,
		"message": sprintf("tenant %s may not use model %s (served by %s)", [inp.tenant.name, p.model, p.name]),
	}
])

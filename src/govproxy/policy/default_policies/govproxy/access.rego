# Per-tenant provider and model allow/deny lists (tenants.<name> in govproxy.yaml).
# Asking for a provider or model the tenant may not use is denied outright; other
# providers a tenant may not use are never offered as a reroute or failover target.
package govproxy.access

import rego.v1

import data.govproxy.lib

rule := "govproxy.access"

provider_allowed(name) if {
	input.tenant.allow_providers == null
	not name in input.tenant.deny_providers
}

provider_allowed(name) if {
	name in input.tenant.allow_providers
	not name in input.tenant.deny_providers
}

model_allowed(model) if model == null

model_allowed(model) if {
	model != null
	input.tenant.allow_models == null
	not model in input.tenant.deny_models
}

model_allowed(model) if {
	model != null
	model in input.tenant.allow_models
	not model in input.tenant.deny_models
}

deny contains {
	"code": "provider_not_allowed",
	"rule": rule,
	"message": sprintf("tenant %s may not use provider %s", [input.tenant.name, lib.requested]),
} if not provider_allowed(lib.requested)

deny contains {
	"code": "model_not_allowed",
	"rule": rule,
	"message": sprintf("tenant %s may not use model %s", [input.tenant.name, input.request.model]),
} if not model_allowed(input.request.model)

exclude contains {
	"provider": p.name,
	"code": "provider_not_allowed",
	"rule": rule,
	"message": sprintf("tenant %s may not use provider %s", [input.tenant.name, p.name]),
} if {
	some p in lib.providers
	not provider_allowed(p.name)
}

exclude contains {
	"provider": p.name,
	"code": "model_not_allowed",
	"rule": rule,
	"message": sprintf("tenant %s may not use model %s (served by %s)", [input.tenant.name, p.model, p.name]),
} if {
	some p in lib.providers
	not model_allowed(p.model)
}

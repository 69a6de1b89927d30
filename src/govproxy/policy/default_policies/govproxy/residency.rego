# Data residency: a tenant that declares regions may only use providers in them.
# Local providers keep data on premises and always satisfy residency.
package govproxy.residency

import rego.v1

import data.govproxy.lib

rule := "govproxy.residency"

regions := input.tenant.residency

exclude contains {
	"provider": p.name,
	"code": "residency",
	"rule": rule,
	"message": sprintf(
		"tenant %s allows regions %v; provider %s is in region %s",
		[input.tenant.name, regions, p.name, p.region],
	),
} if {
	regions != null
	some p in lib.providers
	not p.local
	not p.region in regions
}

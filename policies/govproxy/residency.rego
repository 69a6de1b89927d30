# Data residency: a tenant that declares regions may only use providers in them.
# Local providers keep data on premises and always satisfy residency.
package govproxy.residency

import rego.v1

rule := "govproxy.residency"

exclude(inp, provs) := [r |
	regions := inp.tenant.residency
	regions != null
	some p in provs
	not p.local
	not p.region in regions
	r := {
		"provider": p.name,
		"code": "residency",
		"rule": rule,
		"message": sprintf(
			"tenant %s allows regions %v; provider %s is in region %s",
			[inp.tenant.name, regions, p.name, p.region],
		),
	}
]

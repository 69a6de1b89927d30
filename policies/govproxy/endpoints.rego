# Unknown endpoints (a path govproxy does not parse on a known provider's host) and
# unknown providers are governed like everything else, and denied outright only when
# the operator says so (policy.params.deny_unknown_endpoints / deny_unknown_providers).
package govproxy.endpoints

import rego.v1

import data.govproxy.lib

rule := "govproxy.endpoints"

deny(inp) := unknown_endpoint(inp) | unknown_provider(inp)

unknown_endpoint(inp) := {{
	"code": "unknown_endpoint",
	"rule": rule,
	"message": sprintf("%s %s is not an API govproxy can inspect; denied by configuration", [inp.request.method, inp.request.path]),
}} if {
	inp.params.deny_unknown_endpoints
	inp.request.endpoint == "unknown"
} else := set()

unknown_provider(inp) := {{
	"code": "unknown_provider",
	"rule": rule,
	"message": sprintf("provider %s is not configured; denied by configuration", [inp.request.provider]),
}} if {
	inp.params.deny_unknown_providers
	not lib.requested_known(inp)
} else := set()

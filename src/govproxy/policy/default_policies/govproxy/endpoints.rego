# Unknown endpoints (a path govproxy does not parse on a known provider's host) and
# unknown providers are governed like everything else, and denied outright only when
# the operator says so (policy.params.deny_unknown_endpoints / deny_unknown_providers).
package govproxy.endpoints

import rego.v1

import data.govproxy.lib

rule := "govproxy.endpoints"

deny contains {
	"code": "unknown_endpoint",
	"rule": rule,
	"message": sprintf("%s %s is not an API govproxy can inspect; denied by configuration", [input.request.method, input.request.path]),
} if {
	input.request.endpoint == "unknown"
	input.params.deny_unknown_endpoints
}

deny contains {
	"code": "unknown_provider",
	"rule": rule,
	"message": sprintf("provider %s is not configured; denied by configuration", [lib.requested]),
} if {
	not lib.requested_known
	input.params.deny_unknown_providers
}

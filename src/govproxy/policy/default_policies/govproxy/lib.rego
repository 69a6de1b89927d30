# Shared helpers for the govproxy policies: the effective sensitivity and the provider
# universe every rule reasons about. Input schema: policies/README.md (version 1).
#
# The shipped policies are written as functions of the input document (`inp`), with
# `decision := decide(input)` as the only rule that reads `input`. That keeps them
# testable without `with input as ...` (which the embedded engine, regopy 1.5.2, cannot
# evaluate for rules that reference other rules) and identical under OPA.
package govproxy.lib

import rego.v1

known_sensitivities := {"public", "internal", "confidential", "critical"}

# A detector error means the content was not fully inspected: treat it as unknown.
sensitivity(inp) := "unknown" if {
	inp.dlp.errors
} else := s if {
	s := inp.dlp.sensitivity
	s in known_sensitivities
} else := "unknown"

# Critical data, and data whose sensitivity is not known, never leaves for a cloud.
must_stay_local(inp) if sensitivity(inp) in {"critical", "unknown"}

stays_local(inp) := true if must_stay_local(inp)

else := false

requested_known(inp) if {
	name := inp.request.provider
	some p in inp.providers
	p.name == name
}

# A provider the app addressed that config does not describe is treated as a cloud
# provider in an unknown region, so every rule can still reason about it.
unknown_requested(inp) := {
	"name": inp.request.provider,
	"kind": inp.request.provider_kind,
	"region": "unknown",
	"local": false,
	"healthy": true,
	"circuit": "closed",
	"compatible": true,
	"model": inp.request.model,
	"price_in": 0,
	"price_out": 0,
	"budget": {"exhausted": false, "warn": false},
}

providers(inp) := inp.providers if {
	requested_known(inp)
} else := array.concat(inp.providers, [unknown_requested(inp)])

# The provider object the app addressed (configured, or the unknown stand-in above).
requested(inp, provs) := p if {
	name := inp.request.provider
	some p in provs
	p.name == name
}

# A provider that can take a rerouted request right now.
usable(p) if {
	p.healthy
	p.circuit != "open"
	p.compatible
}

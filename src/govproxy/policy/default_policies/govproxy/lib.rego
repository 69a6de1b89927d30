# Shared helpers for the govproxy policies: the effective sensitivity and the provider
# universe every rule reasons about. Input schema: policies/README.md (version 1).
package govproxy.lib

import rego.v1

known_sensitivities := {"public", "internal", "confidential", "critical"}

# A detector error means the content was not fully inspected: treat it as unknown.
sensitivity := "unknown" if {
	input.dlp.errors
} else := s if {
	s := input.dlp.sensitivity
	s in known_sensitivities
} else := "unknown"

# Critical data, and data whose sensitivity is not known, never leaves for a cloud.
must_stay_local if sensitivity in {"critical", "unknown"}

requested := input.request.provider

requested_known if {
	some p in input.providers
	p.name == requested
}

# A provider the app addressed that config does not describe is treated as a cloud
# provider in an unknown region, so every rule can still reason about it.
unknown_requested := {
	"name": requested,
	"kind": input.request.provider_kind,
	"region": "unknown",
	"local": false,
	"healthy": true,
	"circuit": "closed",
	"compatible": true,
	"model": input.request.model,
	"price_in": 0,
	"price_out": 0,
	"budget": {"exhausted": false, "warn": false},
}

providers := input.providers if requested_known

providers := array.concat(input.providers, [unknown_requested]) if not requested_known

# A provider that can take a rerouted request right now.
usable(p) if {
	p.healthy
	p.circuit != "open"
	p.compatible
}

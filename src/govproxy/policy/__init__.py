"""The decide stage: Rego policies (embedded regopy or a real OPA server) decide each request.

Public API for the pipeline::

    from govproxy.policy import PolicyDecider, build_policy_input

    decider = PolicyDecider.from_settings(settings)          # once
    pin = build_policy_input(req, sensitivity=..., finding_counts=..., categories=...,
                             dlp_error=False, settings=settings, mode="proxy")
    decision = await decider.decide(pin)                      # never raises
"""

from govproxy.policy.config import PolicyConfig, default_policy_dir, policy_config_from_settings
from govproxy.policy.decider import PolicyDecider, fail_closed_decision
from govproxy.policy.inputs import BudgetState, build_policy_input, same_family
from govproxy.policy.schema import (
    DECISION_VERSION,
    INPUT_VERSION,
    Decision,
    DenyReason,
    PolicyInput,
    PolicyParams,
    Route,
)

__all__ = [
    "DECISION_VERSION",
    "INPUT_VERSION",
    "BudgetState",
    "Decision",
    "DenyReason",
    "PolicyConfig",
    "PolicyDecider",
    "PolicyInput",
    "PolicyParams",
    "Route",
    "build_policy_input",
    "default_policy_dir",
    "fail_closed_decision",
    "policy_config_from_settings",
    "same_family",
]

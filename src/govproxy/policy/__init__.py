"""The decide stage: Rego policies (embedded regopy or a real OPA server) decide each request.

Public API for the pipeline::

    from govproxy.policy import PolicyDecider, build_policy_input

    decider = PolicyDecider.from_settings(settings)          # once
    pin = build_policy_input(req, sensitivity=..., finding_counts=..., categories=...,
                             dlp_error=False, settings=settings, mode="proxy")
    decision = await decider.decide(pin)                      # never raises
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Lazy exports: the isolated worker (`python -m govproxy.policy.worker`) imports this
# package first, and must start fast (it is what replaces a crashed worker), so nothing
# heavy is imported until someone asks for it.
_EXPORTS = {
    "PolicyConfig": "govproxy.policy.config",
    "default_policy_dir": "govproxy.policy.config",
    "policy_config_from_settings": "govproxy.policy.config",
    "PolicyDecider": "govproxy.policy.decider",
    "fail_closed_decision": "govproxy.policy.decider",
    "BudgetState": "govproxy.policy.inputs",
    "build_policy_input": "govproxy.policy.inputs",
    "same_family": "govproxy.policy.inputs",
    "DECISION_VERSION": "govproxy.policy.schema",
    "INPUT_VERSION": "govproxy.policy.schema",
    "Decision": "govproxy.policy.schema",
    "DenyReason": "govproxy.policy.schema",
    "PolicyInput": "govproxy.policy.schema",
    "PolicyParams": "govproxy.policy.schema",
    "Route": "govproxy.policy.schema",
}

if TYPE_CHECKING:
    from govproxy.policy.config import (
        PolicyConfig,
        default_policy_dir,
        policy_config_from_settings,
    )
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'govproxy.policy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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

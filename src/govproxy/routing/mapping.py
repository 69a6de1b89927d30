"""Which model name to ask a target provider for.

A request rerouted from ``gpt-4o`` to a local Ollama must name a model that server has;
each provider's ``models`` config says how (``map`` entries, then ``default``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from govproxy.config import ProviderConfig


class ModelMappingError(ValueError):
    """No model can be named for this target (no requested model and no default)."""


def map_model(provider_cfg: ProviderConfig, requested_model: str | None) -> str:
    """The model to send to ``provider_cfg`` for a request that asked for ``requested_model``.

    Order: an exact ``map`` key, then the first glob key (``gpt-4*``) in config order, then
    ``default``, then the requested model unchanged (a provider serving the model asked for).
    """
    mapping = provider_cfg.models
    if requested_model:
        exact = mapping.map.get(requested_model)
        if exact is not None:
            return exact
        for pattern, target in mapping.map.items():
            if any(c in pattern for c in "*?[") and fnmatchcase(requested_model, pattern):
                return target
    if mapping.default:
        return mapping.default
    if requested_model:
        return requested_model
    raise ModelMappingError("the request names no model and the target provider has no models.default")

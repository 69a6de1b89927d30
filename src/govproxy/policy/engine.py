"""What every policy engine offers the decider: evaluate ``input``, return the raw decision.

Engines never decide what happens on failure; they raise ``PolicyEngineError`` with a
``kind`` the decider counts (error, undefined, timeout, crash, unavailable) and the
decider applies fail-closed rules. That keeps the security-relevant fallback in one place.
"""

from __future__ import annotations

from typing import Any, Protocol


class PolicyEngineError(Exception):
    KINDS = ("error", "undefined", "timeout", "crash", "unavailable", "malformed")

    def __init__(self, kind: str, message: str) -> None:
        assert kind in self.KINDS, kind
        self.kind = kind
        super().__init__(message)


class PolicyEngine(Protocol):
    name: str

    @property
    def bundle_hash(self) -> str: ...

    def evaluate_json_sync(self, input_json: bytes, timeout: float) -> Any: ...

    async def evaluate_json(self, input_json: bytes, timeout: float) -> Any: ...

    def evaluate_sync(self, input_doc: dict[str, Any], timeout: float) -> Any: ...

    async def evaluate(self, input_doc: dict[str, Any], timeout: float) -> Any: ...

    def close(self) -> None: ...

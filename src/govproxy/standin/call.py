"""What an endpoint handler gets: the request, its parsed JSON body and the server knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govproxy.standin.echo import EchoOptions
from govproxy.standin.errors import Family
from govproxy.standin.http11 import HttpRequest


@dataclass
class Call:
    request: HttpRequest
    body: dict[str, Any]
    options: EchoOptions
    family: Family
    path_params: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        m = self.path_params.get("model") or self.path_params.get("deployment") or self.body.get("model")
        return str(m) if m else "unknown-model"

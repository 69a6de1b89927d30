"""The ``/_standin/…`` control API: the same controls as the Python object, over HTTP.

Lets tests drive a stand-in running in another process (the demo, a subprocess started
by an e2e test). Control calls are never recorded, and a connection that carries only
control calls is not counted as an accepted connection, so reading the counter does not
change it.

Endpoints::

    GET    /_standin/health              {"ok": true}
    GET    /_standin/requests            {"requests": [...], "connections": n, "total_requests": n}
    GET    /_standin/stats               {"connections", "open_connections", "total_requests"}
    POST   /_standin/reset               clear record and counters; also faults and options unless
                                         {"faults": false} / {"options": false}
    GET    /_standin/faults              active fault rules
    POST   /_standin/faults              add a fault (JSON of ``Fault``) -> {"id": n}
    DELETE /_standin/faults              remove all faults
    DELETE /_standin/faults/{id}         remove one
    GET    /_standin/config              current options
    POST   /_standin/config              change options (chunk_size, chunk_delay, require_api_key, …)
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from govproxy.standin.echo import dumps
from govproxy.standin.faults import Fault
from govproxy.standin.http11 import HttpRequest, Response

if TYPE_CHECKING:
    from govproxy.standin.app import StandinApp


class OptionsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunk_size: int | None = Field(default=None, ge=1)
    chunk_delay: float | None = Field(default=None, ge=0)
    require_api_key: bool | None = None
    echo_prefix: str | None = None
    embedding_dimensions: int | None = Field(default=None, ge=1, le=4096)
    accepted_keys: list[str] | None = Field(default=None, description="only these keys are valid; [] clears")
    latency: float | None = Field(default=None, ge=0)
    strict_headers: bool | None = None
    honour_max_tokens: bool | None = None
    gzip: bool | None = None


def _json(status: int, obj: Any) -> Response:
    return Response(status, [("content-type", "application/json")], dumps(obj))


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


class ControlApi:
    def __init__(self, app: StandinApp) -> None:
        self._app = app

    def handle(self, req: HttpRequest) -> Response:
        path = req.path.rstrip("/")
        try:
            body = json.loads(req.body) if req.body else {}
        except ValueError:
            return _error(400, "control body must be JSON")
        app = self._app
        rec = app.recorder
        try:
            match (req.method, path):
                case ("GET", "/_standin/health"):
                    return _json(200, {"ok": True})
                case ("GET", "/_standin/requests"):
                    return _json(
                        200,
                        {
                            "requests": [r.to_wire() for r in rec.requests],
                            "connections": rec.connections,
                            "total_requests": rec.total_requests,
                        },
                    )
                case ("GET", "/_standin/stats"):
                    return _json(
                        200,
                        {
                            "connections": rec.connections,
                            "open_connections": rec.open_connections,
                            "total_requests": rec.total_requests,
                        },
                    )
                case ("POST", "/_standin/reset"):
                    rec.reset()
                    if body.get("faults", True):
                        app.faults.clear()
                    if body.get("options", True):
                        app.options.restore(app.initial_options)
                    return _json(200, {"ok": True})
                case ("GET", "/_standin/faults"):
                    return _json(200, {"faults": [r.model_dump(mode="json") for r in app.faults.rules()]})
                case ("POST", "/_standin/faults"):
                    return _json(200, {"id": app.faults.add(Fault.model_validate(body))})
                case ("DELETE", "/_standin/faults"):
                    app.faults.clear()
                    return _json(200, {"ok": True})
                case ("GET", "/_standin/config"):
                    return _json(200, dataclasses.asdict(app.options))
                case ("POST", "/_standin/config"):
                    update = OptionsUpdate.model_validate(body)
                    for key, value in update.model_dump(exclude_none=True).items():
                        setattr(app.options, key, value)
                    if update.accepted_keys == []:
                        app.options.accepted_keys = None
                    return _json(200, dataclasses.asdict(app.options))
            if req.method == "DELETE" and path.startswith("/_standin/faults/"):
                try:
                    rule_id = int(path.rsplit("/", 1)[1])
                except ValueError:
                    return _error(400, "fault id must be an integer")
                return _json(200, {"removed": app.faults.remove(rule_id)})
        except ValidationError as exc:
            return _error(422, "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()))
        return _error(404, f"unknown control endpoint {req.method} {req.path}")

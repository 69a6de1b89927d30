"""Small helpers shared by the format modules."""

from __future__ import annotations

import json
import mimetypes
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from govproxy.translate.errors import TranslationError
from govproxy.translate.ir import Media, Message, Part, Role

_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,", re.ASCII)


@contextmanager
def malformed(what: str) -> Iterator[None]:
    """Turn a wrong shape deep inside a body (a string where an object belongs…) into a
    :class:`TranslationError` naming the body, never its content."""
    try:
        yield
    except TranslationError:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise TranslationError(
            f"{what}: unexpected structure ({type(exc).__name__})"
        ) from None


def as_str(value: Any) -> str:
    """A string field, or "" when an upstream sent something else."""
    return value if isinstance(value, str) else ""


def as_int(value: Any) -> int:
    """A token count, or 0 when an upstream sent something else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value)


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


def media_from_url(url: str) -> Media:
    """``data:`` URLs become inline base64; other URLs stay URLs with a guessed media type."""
    m = _DATA_URL.match(url)
    if m:
        if not (m.group(2) or "").endswith("base64"):
            raise TranslationError("data: URL parts must be base64-encoded")
        return Media(
            media_type=m.group(1) or "application/octet-stream", data=url[m.end() :]
        )
    guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
    return Media(media_type=guessed or "image/jpeg", url=url)


def data_url(media: Media) -> str:
    if media.data is not None:
        return f"data:{media.media_type};base64,{media.data}"
    return media.url or ""


def append_message(messages: list[Message], role: Role, parts: list[Part]) -> None:
    """Append, merging consecutive turns of one role (Anthropic and Gemini want alternation)."""
    if not parts:
        return
    if messages and messages[-1].role == role:
        messages[-1].parts.extend(parts)
    else:
        messages.append(Message(role, parts))


def args_to_dict(arguments: str) -> dict[str, Any]:
    """Tool-call arguments as an object; text that is not a JSON object is kept under ``arguments``."""
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}


def dump_args(value: Any) -> str:
    return json.dumps(
        value if value is not None else {}, ensure_ascii=False, separators=(",", ":")
    )


def first(d: dict[str, Any], *keys: str) -> Any:
    """Gemini's REST API accepts camelCase and snake_case alike; read either."""
    for k in keys:
        v = d.get(k)
        if v is not None:
            return v
    return None


def require_dict(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise TranslationError(f"{what}: body must be a JSON object")
    return body


def text_only(parts: list[Any]) -> str:
    return "".join(p for p in parts if isinstance(p, str))

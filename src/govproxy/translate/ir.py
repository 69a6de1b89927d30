"""The neutral conversation shape every format is read into and written from.

Three formats translate through one shape (3 readers + 3 writers instead of 6 pairwise
converters). It keeps Anthropic's grouping — tool results live inside user turns, tool
calls inside assistant turns — because that is the strictest of the three; the OpenAI
writer splits them back into ``tool`` messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]
# Neutral stop reasons; each format maps to and from these.
STOP_END = "end"
STOP_LENGTH = "length"
STOP_TOOL = "tool_use"
STOP_SEQUENCE = "stop_sequence"
STOP_FILTER = "content_filter"


@dataclass(slots=True)
class Media:
    """An image or document: inline base64 ``data`` or a ``url``."""

    media_type: str
    data: str | None = None
    url: str | None = None


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI carries it; readers of dict formats dump it


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[str | Media]
    is_error: bool = False
    name: str | None = None


Part = str | Media | ToolCall | ToolResult


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None
    parameters: dict[str, Any]


@dataclass(slots=True)
class ChatRequest:
    system: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: str | None = (
        None  # "auto" | "none" | "required" | "tool" (see tool_choice_name)
    )
    tool_choice_name: str | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    n: int | None = None
    user: str | None = None
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None


@dataclass(slots=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    parts: list[str | ToolCall]
    stop: str = STOP_END
    stop_sequence: str | None = None
    usage: Usage | None = None

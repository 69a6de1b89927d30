"""The neutral stream: what every upstream SSE dialect is decoded into.

Content arrives as blocks (Anthropic's model, the strictest): a block is text or one tool
call, opened, fed deltas (text, or fragments of the arguments' JSON), and closed. At most
one block is open at a time. Decoders guarantee ``BlockStop`` for every ``BlockStart``
before ``End``, which is what lets text transforms flush exactly at a channel's end.
"""

from __future__ import annotations

from dataclasses import dataclass

from govproxy.translate.ir import Usage


@dataclass(slots=True)
class Start:
    id: str
    model: str | None
    input_tokens: int | None = None


@dataclass(slots=True)
class BlockStart:
    index: int
    tool_id: str | None = None
    tool_name: str | None = None  # set for tool-call blocks

    @property
    def is_tool(self) -> bool:
        return self.tool_name is not None


@dataclass(slots=True)
class Delta:
    index: int
    text: str


@dataclass(slots=True)
class BlockStop:
    index: int


@dataclass(slots=True)
class End:
    stop: str
    stop_sequence: str | None = None
    usage: Usage | None = None


@dataclass(slots=True)
class StreamError:
    category: str
    message: str


Event = Start | BlockStart | Delta | BlockStop | End | StreamError

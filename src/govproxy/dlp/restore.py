"""Putting original values back into streamed text without buffering the stream.

A placeholder can be split across SSE chunks (``…[EMA`` + ``IL_1]…``). The restorer
holds back only a tail that is a proper prefix of a placeholder this vault issued; any
other ``[`` is released at once, so time-to-first-token is unchanged for ordinary text.
"""

from __future__ import annotations

from govproxy.dlp.vault import PLACEHOLDER_MAX_LEN, PseudonymVault


class StreamRestorer:
    """Feed text chunks of one channel (one content stream, or one tool call's arguments)."""

    def __init__(self, vault: PseudonymVault, *, json_escape: bool = False) -> None:
        self._vault = vault
        self._json = json_escape
        self._held = ""

    @property
    def held(self) -> int:
        """Characters currently held back (at most one placeholder's length)."""
        return len(self._held)

    def feed(self, chunk: str) -> str:
        if not chunk:
            return ""
        buf = self._held + chunk if self._held else chunk
        self._held = ""
        if len(self._vault) == 0:
            return buf
        i = buf.rfind("[", max(0, len(buf) - PLACEHOLDER_MAX_LEN))
        if i != -1 and self._vault.is_prefix(buf[i:]):
            self._held = buf[i:]
            buf = buf[:i]
        return self._vault.restore_text(buf, json_escape=self._json)

    def flush(self) -> str:
        """End of stream: release whatever was held (it did not become a placeholder)."""
        out, self._held = self._held, ""
        return out

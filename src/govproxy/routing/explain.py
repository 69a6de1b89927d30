"""Why a request went where it did, kept per request id for ``govproxy explain``.

Several stages contribute to one explanation (the policy's rules, the router's candidates
and attempts), so :meth:`ExplanationStore.record` merges instead of overwriting. The
document must not hold prompt content, PII or keys: only names, scores, statuses and
reason strings built from configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from govproxy.routing.store import JsonDoc, StateStore, merge_docs

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class InvalidRequestId(ValueError):
    pass


def check_request_id(request_id: str) -> str:
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise InvalidRequestId("request id must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
    return request_id


class ExplanationStore:
    def __init__(self, store: StateStore, *, ttl_s: float = 30 * 86400.0) -> None:
        self._store = store
        self._ttl_s = ttl_s

    def record(self, request_id: str, doc: Mapping[str, Any]) -> None:
        """Add ``doc`` to the request's explanation (merged on read: mappings merge, lists extend).

        Contributions are appended, not read-modified-written, so recording costs one write
        and concurrent stages cannot lose each other's parts.
        """
        check_request_id(request_id)
        self._store.append_doc(f"explain:{request_id}", dict(doc), self._ttl_s)

    def get(self, request_id: str) -> JsonDoc | None:
        check_request_id(request_id)
        parts = self._store.get_docs(f"explain:{request_id}")
        if not parts:
            return None
        merged: JsonDoc = {}
        for part in parts:
            merged = merge_docs(merged, part)
        return merged

"""Export bundles: the evidence a third party verifies with only the public key.

Layout::

    records.jsonl          canonical record bytes, one per line (exactly as hashed)
    checkpoints/NNNNNN.checkpoint   every signed checkpoint, in signing order
    proofs.jsonl           filtered exports: inclusion proof of each record in the newest checkpoint
    consistency.jsonl      filtered exports: consistency proof of each checkpoint to the newest
    manifest.dsse.json     DSSE envelope of an in-toto v1 statement over all files above

The export reads the store with a read-only connection, so it can run beside a live proxy.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from govproxy.audit.canonical import canonical
from govproxy.audit.errors import StoreError
from govproxy.audit.merkle import MerkleTree
from govproxy.audit.note import Signer, parse_signed_checkpoint
from govproxy.audit.store import StoreReader, connect_readonly
from govproxy.audit.verify import DSSE_PAYLOAD_TYPE, MANIFEST, dsse_pae

PREDICATE_TYPE = "https://govproxy.dev/audit-export/v1"


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    records: int
    checkpoints: int
    filtered: bool
    tree_size: int


def normalise_time(value: str) -> str:
    """An RFC 3339 / ISO date given by an operator → the records' ``ts`` form (UTC, µs, Z)."""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(x).decode() for x in items]


def export_bundle(
    db_path: Path,
    signer: Signer,
    out: Path,
    *,
    since: str | None = None,
    until: str | None = None,
    tenant: str | None = None,
) -> ExportSummary:
    if out.exists() and any(out.iterdir()):
        raise StoreError(f"{out}: exists and is not empty; choose a new directory")
    since_n = normalise_time(since) if since else None
    until_n = normalise_time(until) if until else None
    filtered = bool(since_n or until_n or tenant is not None)
    conn = connect_readonly(db_path)
    try:
        reader = StoreReader(conn)
        conn.execute("BEGIN")  # one snapshot for records and checkpoints
        checkpoints = reader.checkpoints()
        files: dict[str, bytes] = {}
        if filtered:
            seqs = reader.filtered_seqs(since_n, until_n, tenant)
            bodies = [reader.record(s) for s in seqs]
            records = [r.body for r in bodies if r is not None]
        else:
            records = [r.body for r in reader.iter_records()]
            seqs = list(range(len(records)))
        files["records.jsonl"] = b"".join(b + b"\n" for b in records)
        for i, c in enumerate(checkpoints, 1):
            files[f"checkpoints/{i:06d}.checkpoint"] = c.note.encode()
        head_size = max((c.size for c in checkpoints), default=0)
        if filtered and checkpoints:
            tree = MerkleTree(reader.iter_hashes())
            head_size = min(head_size, tree.size)
            proofs = [
                canonical(
                    {
                        "proof": _b64(tree.inclusion_proof(s, head_size)),
                        "seq": s,
                        "tree_size": head_size,
                    }
                )
                for s in seqs
                if s < head_size
            ]
            files["proofs.jsonl"] = b"".join(p + b"\n" for p in proofs)
            sizes = sorted({c.size for c in checkpoints if c.size <= head_size})
            cons = [
                canonical(
                    {
                        "proof": _b64(tree.consistency_proof(s, head_size)),
                        "size1": s,
                        "size2": head_size,
                    }
                )
                for s in sizes
            ]
            files["consistency.jsonl"] = b"".join(c + b"\n" for c in cons)
        conn.execute("COMMIT")
    finally:
        conn.close()
    origin = (
        parse_signed_checkpoint(checkpoints[-1].note).checkpoint.origin
        if checkpoints
        else None
    )
    statement: dict[str, Any] = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}
            for name, data in sorted(files.items())
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "origin": origin,
            "filtered": filtered,
            "filter": {"since": since_n, "until": until_n, "tenant": tenant},
            "records": len(records),
            "tree_size": head_size,
            "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    payload = canonical(statement)
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": DSSE_PAYLOAD_TYPE,
        "signatures": [
            {
                "keyid": signer.verifier.key_id,
                "sig": base64.b64encode(
                    signer.private.sign(dsse_pae(DSSE_PAYLOAD_TYPE, payload))
                ).decode(),
            }
        ],
    }
    files[MANIFEST] = json.dumps(envelope, indent=2).encode() + b"\n"
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return ExportSummary(out, len(records), len(checkpoints), filtered, head_size)

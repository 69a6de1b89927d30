"""``govproxy audit …`` and ``govproxy keys …`` subcommands.

Exit codes follow the verifier's contract: 0 valid, 1 tampered, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from govproxy.audit.config import AuditConfig
from govproxy.audit.errors import AuditError, NoteError
from govproxy.audit.keys import (
    init_key,
    load_signer,
    public_path,
    read_verifier_keys,
    retired_dir,
)
from govproxy.audit.store import StoredRecord, StoreReader, connect_readonly

EXIT_OK, EXIT_TAMPERED, EXIT_USAGE = 0, 1, 2


def _err(message: str) -> int:
    print(f"govproxy: {message}", file=sys.stderr)
    return EXIT_USAGE


def _config(args: argparse.Namespace) -> AuditConfig:
    from govproxy.config import load_settings

    settings = load_settings(getattr(args, "config", None))
    raw: Any = settings.audit
    cfg = raw if isinstance(raw, AuditConfig) else AuditConfig.model_validate(raw or {})
    updates: dict[str, Any] = {}
    if getattr(args, "db", None):
        updates["path"] = Path(args.db)
    if getattr(args, "key", None):
        updates["signing_key"] = Path(args.key)
    return cfg.model_copy(update=updates) if updates else cfg


def _add_config(p: argparse.ArgumentParser, db: bool = True, key: bool = False) -> None:
    p.add_argument(
        "--config",
        "-c",
        help="govproxy YAML config (default: ./govproxy.yaml if present)",
    )
    if db:
        p.add_argument("--db", help="audit store path (overrides audit.path)")
    if key:
        p.add_argument("--key", help="signing key path (overrides audit.signing_key)")


# ---------------------------------------------------------------------- keys


def _keys_init(args: argparse.Namespace) -> int:
    cfg = _config(args)
    name = args.name or cfg.origin.replace("/", ".")
    verifier = init_key(cfg.signing_key, name)
    print(
        f"created {cfg.signing_key} (mode 0600); verifier key in {public_path(cfg.signing_key)}:",
        file=sys.stderr,
    )
    print(verifier.encode())
    return EXIT_OK


def _keys_rotate(args: argparse.Namespace) -> int:
    from govproxy.audit.rotation import rotate_signing_key

    old, new, state = rotate_signing_key(_config(args))
    print(
        f"rotated {old.key_id} -> {new.key_id}; checkpoint at size {state.size} signed by both",
        file=sys.stderr,
    )
    print(new.encode())
    return EXIT_OK


def _keys_public(args: argparse.Namespace) -> int:
    cfg = _config(args)
    print(load_signer(cfg.signing_key).verifier.encode())
    if args.all and retired_dir(cfg.signing_key).is_dir():
        for p in sorted(retired_dir(cfg.signing_key).glob("*.key")):
            print(load_signer(p).verifier.encode())
    return EXIT_OK


# ---------------------------------------------------------------------- audit


def _verify(args: argparse.Namespace) -> int:
    from govproxy.audit.verify import verify_bundle, verify_store

    if bool(args.db) == bool(args.bundle):
        return _err("audit verify: give exactly one of --db PATH or BUNDLE_DIR")
    keys = []
    for path in args.pubkey:
        keys += read_verifier_keys(Path(path))
    held = None
    if args.since_checkpoint:
        try:
            held = Path(args.since_checkpoint).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return _err(f"{args.since_checkpoint}: cannot read checkpoint: {exc}")
    if args.db:
        db = Path(args.db)
        cdir = (
            Path(args.checkpoint_dir)
            if args.checkpoint_dir
            else db.parent / "checkpoints"
        )
        report = verify_store(
            db,
            keys,
            checkpoint_dir=None if args.no_checkpoint_files else cdir,
            since_checkpoint=held,
        )
    else:
        report = verify_bundle(Path(args.bundle), keys, since_checkpoint=held)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for problem in report.problems:
            print(problem.line())
        print(report.summary())
    return EXIT_OK if report.valid else EXIT_TAMPERED


def _export(args: argparse.Namespace) -> int:
    from govproxy.audit.export import export_bundle

    cfg = _config(args)
    signer = load_signer(cfg.signing_key)
    try:
        summary = export_bundle(
            cfg.path,
            signer,
            Path(args.out),
            since=args.since,
            until=args.until,
            tenant=args.tenant,
        )
    except ValueError as exc:
        return _err(str(exc))
    kind = "filtered" if summary.filtered else "full"
    print(
        f"exported {summary.records} records ({kind}), {summary.checkpoints} checkpoints, "
        f"tree size {summary.tree_size} to {summary.out}"
    )
    return EXIT_OK


def _line(rec: StoredRecord) -> str:
    try:
        value = json.loads(rec.body)
        p = value.get("payload", {})
        keys = (
            "tenant",
            "app",
            "request_id",
            "decision",
            "status",
            "provider",
            "model",
        )
        extra = " ".join(f"{k}={p[k]}" for k in keys if k in p)
        return (
            f"{value.get('seq')} {value.get('ts')} {value.get('kind')} {extra}".rstrip()
        )
    except (ValueError, AttributeError):
        return f"{rec.seq} <unreadable record>"


def _tail(args: argparse.Namespace) -> int:
    cfg = _config(args)
    conn = connect_readonly(cfg.path)
    try:
        reader = StoreReader(conn)
        rows = reader.tail(args.n)
        for r in rows:
            print(r.body.decode() if args.json else _line(r), flush=True)
        last = rows[-1].seq if rows else -1
        while args.follow:
            time.sleep(0.5)
            for r in reader.iter_records(last + 1):
                print(r.body.decode() if args.json else _line(r), flush=True)
                last = r.seq
    except KeyboardInterrupt:
        pass
    finally:
        conn.close()
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    cfg = _config(args)
    conn = connect_readonly(cfg.path)
    try:
        reader = StoreReader(conn)
        if args.id.isdigit():
            one = reader.record(int(args.id))
            rows = [one] if one else []
        else:
            rows = reader.records_by_request(args.id)
        if not rows:
            return _err(f"no record with seq or request id {args.id!r}")
        keys = None
        for r in rows:
            value = json.loads(r.body)
            out: dict[str, Any] = {"hash": r.hash.hex(), "record": value}
            content = value.get("content") or {}
            if args.decrypt and content.get("mode") == "encrypted":
                from govproxy.audit.content import ContentKeyStore

                keys = keys or ContentKeyStore(cfg.resolved_content_keys)
                blob = reader.content(r.seq)
                try:
                    out["decrypted"] = (
                        keys.decrypt(blob["tenant"], blob["key_id"], blob["blob"])
                        if blob
                        else None
                    )
                except AuditError as exc:
                    out["decrypted"] = f"<{exc}>"
            print(json.dumps(out, indent=2, ensure_ascii=False))
    finally:
        conn.close()
    return EXIT_OK


def _shred(args: argparse.Namespace) -> int:
    from govproxy.audit.content import ContentKeyStore
    from govproxy.audit.store import WriterLock

    cfg = _config(args)
    lock = WriterLock(cfg.path)
    lock.acquire()  # a running writer caches keys: shred through it, or stop it first
    try:
        n = ContentKeyStore(cfg.resolved_content_keys).shred(args.tenant)
    finally:
        lock.release()
    print(
        f"deleted {n} data key(s) of tenant {args.tenant!r}; its encrypted content is unrecoverable"
    )
    return EXIT_OK


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except (AuditError, NoteError, OSError, ValueError) as exc:
            return _err(str(exc))

    return run


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = subparsers.add_parser("keys", help="audit signing keys (Ed25519)")
    ksub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = ksub.add_parser(
        "init", help="create the signing key (0600); refuses to overwrite"
    )
    _add_config(p, db=False, key=True)
    p.add_argument("--name", help="key name (default: origin with '/' as '.')")
    p.set_defaults(func=_guard(_keys_init))
    p = ksub.add_parser(
        "rotate", help="new key; the handover checkpoint is signed by both keys"
    )
    _add_config(p, key=True)
    p.set_defaults(func=_guard(_keys_rotate))
    p = ksub.add_parser("public", help="print the verifier (public) key")
    _add_config(p, db=False, key=True)
    p.add_argument("--all", action="store_true", help="also print retired keys")
    p.set_defaults(func=_guard(_keys_public))

    audit = subparsers.add_parser("audit", help="tamper-evident audit trail")
    asub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = asub.add_parser(
        "verify",
        help="verify a store or an export bundle (exit 0 valid, 1 tampered, 2 error)",
    )
    p.add_argument("bundle", nargs="?", help="export bundle directory")
    p.add_argument("--db", help="verify this SQLite store instead of a bundle")
    p.add_argument(
        "--pubkey",
        action="append",
        required=True,
        help="trusted verifier key file (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument(
        "--since-checkpoint", help="a checkpoint you hold: detect rollback against it"
    )
    p.add_argument(
        "--checkpoint-dir",
        help="checkpoint files kept outside the DB (default: 'checkpoints' beside it)",
    )
    p.add_argument(
        "--no-checkpoint-files",
        action="store_true",
        help="check only the checkpoints inside the DB",
    )
    p.set_defaults(func=_guard(_verify))
    p = asub.add_parser("export", help="write a signed, verifiable bundle")
    _add_config(p, key=True)
    p.add_argument("--out", required=True, help="new directory for the bundle")
    p.add_argument("--since", help="RFC 3339 time, inclusive")
    p.add_argument("--until", help="RFC 3339 time, exclusive")
    p.add_argument("--tenant", help="only this tenant's records")
    p.set_defaults(func=_guard(_export))
    p = asub.add_parser("tail", help="print the newest records")
    _add_config(p)
    p.add_argument("-n", type=int, default=20, help="how many (default 20)")
    p.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new records"
    )
    p.add_argument("--json", action="store_true", help="print the canonical bytes")
    p.set_defaults(func=_guard(_tail))
    p = asub.add_parser(
        "show", help="show a record by seq or all records of a request id"
    )
    _add_config(p)
    p.add_argument("id", help="sequence number or request id")
    p.add_argument(
        "--decrypt",
        action="store_true",
        help="decrypt encrypted content (needs the tenant key store)",
    )
    p.set_defaults(func=_guard(_show))
    p = asub.add_parser(
        "shred",
        help="crypto-shred a tenant's encrypted content (writer must be stopped)",
    )
    _add_config(p)
    p.add_argument("--tenant", required=True)
    p.set_defaults(func=_guard(_shred))

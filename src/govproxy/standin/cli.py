"""Command line for the stand-in: ``python -m govproxy.standin`` and ``govproxy standin``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="listen port (default 0: ephemeral)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with the bundle in --cert-dir")
    parser.add_argument(
        "--cert-dir",
        type=Path,
        help="directory with ca.pem/server.pem/server.key; created there when absent",
    )
    parser.add_argument("--extra-name", action="append", default=[], help="extra SAN when certificates are created")
    parser.add_argument("--chunk-size", type=int, default=8, help="characters per streamed chunk (default 8)")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks")
    parser.add_argument("--no-require-key", action="store_true", help="accept requests without an API key")
    parser.add_argument("--http2", action="store_true", help="also offer HTTP/2 (ALPN h2); needs --tls")


def run(args: argparse.Namespace) -> int:
    from govproxy.standin.certs import CertBundle, make_test_certs
    from govproxy.standin.server import StandinServer

    certs = None
    if args.tls:
        if args.cert_dir is None:
            print("error: --tls needs --cert-dir", file=sys.stderr)
            return 2
        try:
            certs = CertBundle.from_dir(args.cert_dir)
        except FileNotFoundError:
            certs = make_test_certs(args.cert_dir, args.extra_name)
    try:
        server = StandinServer(
            host=args.host,
            port=args.port,
            tls=args.tls,
            certs=certs,
            chunk_size=args.chunk_size,
            chunk_delay=args.chunk_delay,
            require_api_key=not args.no_require_key,
            http2=args.http2,
        )
        server.start()
    except (OSError, ValueError) as exc:
        print(f"error: cannot start stand-in: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    info = {
        "url": server.url,
        "port": server.port,
        "tls": server.tls,
        "ca_file": str(certs.ca_cert) if certs else None,
        "pid": os.getpid(),
    }
    print(json.dumps(info), flush=True)
    done.wait()
    server.stop()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``govproxy standin`` (for the lead's CLI table)."""
    p = subparsers.add_parser("standin", help="run the loopback stand-in LLM provider (tests, demo)")
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m govproxy.standin", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))

"""`govproxy run` leaves out the mitmproxy addons that would store or rewrite traffic outside governance."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mitmproxy import options
from mitmproxy.addonmanager import _get_name

from govproxy.master import DROPPED_ADDONS, GovernedMaster


def test_flow_writers_and_rewriters_are_not_loaded_but_their_options_still_parse() -> None:
    async def build() -> tuple[set[str], bool]:
        opts = options.Options()
        master = GovernedMaster(opts)
        names = {_get_name(a) for a in master.addons.chain}
        return names, "save_stream_file" in opts and "flow_detail" in opts

    names, parses = asyncio.run(build())
    assert parses
    for gone in ("save", "savehar", "dumper", "mapremote", "maplocal", "modifybody", "modifyheaders", "serverplayback"):
        assert gone in DROPPED_ADDONS and gone not in names
    # What a proxy needs is all there.
    assert {"core", "proxyserver", "nextlayer", "tlsconfig", "scriptloader", "block", "disableh2c", "upstreamauth"} <= names


@pytest.mark.parametrize("option", ["save_stream_file={out}", "modify_headers=/~q/x-leak/1", "map_remote=|example.com|evil.test"])
def test_run_refuses_options_that_would_bypass_governance(tmp_path: Path, option: str) -> None:
    out = tmp_path / "flows.mitm"
    config = tmp_path / "govproxy.yaml"
    config.write_text(yaml.safe_dump({
        "state": {"path": str(tmp_path / "state.sqlite3")},
        "audit": {"path": str(tmp_path / "audit" / "govproxy.db"), "signing_key": str(tmp_path / "audit" / "signing.key")},
    }))
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    proc = subprocess.run(
        [sys.executable, "-m", "govproxy.cli", "run", "--config", str(config), "--confdir", str(tmp_path / "conf"),
         "--listen-port", "0", "--set", option.format(out=out)],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "does not support" in output and option.split("=")[0] in output
    assert "listening on" not in output
    assert not out.exists()

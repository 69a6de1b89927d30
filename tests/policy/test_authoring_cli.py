"""`govproxy policy test|check|eval|schema` as a policy author and CI use them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from govproxy.policy.config import PACKAGED_POLICIES
from tests.policy.helpers import POLICIES, write_policy


def govproxy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "govproxy.cli", "policy", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_packaged_default_policies_are_identical_to_the_repository_copy() -> None:
    repo = {p.relative_to(POLICIES): p.read_bytes() for p in POLICIES.rglob("*.rego")}
    packaged = {p.relative_to(PACKAGED_POLICIES): p.read_bytes() for p in PACKAGED_POLICIES.rglob("*.rego")}
    assert repo and repo == packaged, "copy policies/ to src/govproxy/policy/default_policies/"


def test_policy_test_counts_passes_and_failures(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.rego").write_text("package x\n\nimport rego.v1\n\ndouble(n) := n * 2\n")
    (tmp_path / "x" / "a_test.rego").write_text(
        "package x_test\n\nimport rego.v1\n\nimport data.x\n\n"
        "test_double if x.double(2) == 4\n\ntest_wrong if x.double(2) == 5\n"
    )
    r = govproxy("test", str(tmp_path))
    assert r.returncode == 1
    assert r.stdout.strip().splitlines()[-1] == "1 passed, 1 failed"
    assert "FAIL data.x_test.test_wrong" in r.stdout and "a_test.rego:9" in r.stdout


def test_policy_check_reports_file_and_line(tmp_path: Path) -> None:
    write_policy(tmp_path, "decision := {\n")
    r = govproxy("check", str(tmp_path))
    assert r.returncode == 1
    assert "decision.rego:" in r.stdout and "error:" in r.stdout


def test_policy_check_flags_regex_dialect_and_missing_builtins(tmp_path: Path) -> None:
    write_policy(tmp_path, 'decision := {"allow": regex.match(`(?i)^gpt`, input.request.model)}\n\n'
                           'x if net.cidr_contains("10.0.0.0/8", "10.0.0.1")')
    r = govproxy("check", str(tmp_path))
    assert r.returncode == 1
    assert "(?i)" in r.stdout and "decision.rego:5" in r.stdout
    assert "net* is not available" in r.stdout


def test_policy_check_flags_min_and_max_that_regopy_orders_as_text(tmp_path: Path) -> None:
    write_policy(tmp_path, 'decision := {"allow": true, "cheapest": min([p.price_in | some p in input.providers])}')
    r = govproxy("check", str(tmp_path))
    assert "min(): regopy 1.5.2 orders numbers as text" in r.stdout and "decision.rego:" in r.stdout


def test_embedded_engine_really_orders_numbers_as_text_in_sort() -> None:
    """The regopy trap the shipped ranking works around; if a regopy release fixes it,
    this fails and the fixed-width price key in decision.rego can go."""
    import regopy

    out = regopy.Interpreter().query("x := sort([5, 25])")
    assert '"x":[25,5]' in str(out).replace(" ", "")


def test_shipped_policies_check_clean() -> None:
    r = govproxy("check", str(POLICIES))
    assert r.returncode == 0, r.stdout + r.stderr


def test_policy_eval_like_opa_eval(tmp_path: Path) -> None:
    inp = tmp_path / "input.json"
    from tests.policy.helpers import make_input

    inp.write_text(make_input(sensitivity="critical", findings={"PRIVATE_KEY": 1}).model_dump_json())
    r = govproxy("eval", "--input", str(inp), "-d", str(POLICIES), "data.govproxy.decision.route")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["result"][0]["expressions"][0]["provider"] == "local"
    r = govproxy("eval", "--fail", "--input", str(inp), "-d", str(POLICIES), "data.govproxy.nothing")
    assert r.returncode == 1 and r.stdout.strip() == "undefined"


def test_policy_schema_prints_both_schemas() -> None:
    r = govproxy("schema")
    doc = json.loads(r.stdout)
    assert set(doc) == {"input", "decision"}
    assert "providers" in doc["input"]["properties"] and "redact" in doc["decision"]["properties"]


def test_shipped_rego_tests_pass() -> None:
    r = govproxy("test", str(POLICIES))
    assert r.returncode == 0, r.stdout
    last = r.stdout.strip().splitlines()[-1]
    passed = int(last.split()[0])
    assert last == f"{passed} passed, 0 failed" and passed >= 30


def test_a_test_that_crashes_the_engine_fails_without_killing_the_runner(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "p.rego").write_text("package p\n\nimport rego.v1\n\nk := 1\n\nr := input.a + k\n")
    (tmp_path / "p" / "p_test.rego").write_text("package p_test\n\nimport rego.v1\n\ntest_plain if data.p.k == 1\n")
    (tmp_path / "p" / "with_test.rego").write_text(
        'package with_test\n\nimport rego.v1\n\ntest_with if data.p.r == 2 with input as {"a": 1}\n'
    )  # aborts regopy 1.5.2
    r = govproxy("test", str(tmp_path))
    assert r.returncode == 1
    assert r.stdout.strip().splitlines()[-1] == "1 passed, 1 failed"
    assert "PASS data.p_test.test_plain" in r.stdout
    assert "FAIL data.with_test.test_with" in r.stdout and "crash" in r.stdout

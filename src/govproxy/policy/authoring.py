"""Tools for policy authors: run Rego tests, check a policy set, lint dialect traps.

``run_tests`` follows ``opa test``: every rule named ``test_*`` in a ``*_test.rego`` file
passes when it evaluates to true; undefined or false fails; an error fails with its
message. ``check`` compiles, evaluates every package once to surface errors rego-cpp
only reports at evaluation (an unknown function), and lints for constructs that behave
differently between OPA (Go, RE2 regexes) and the embedded regopy (ECMAScript regexes,
missing built-ins).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govproxy.policy.rego import (
    PolicyIssue,
    compile_check,
    package_of,
)
from govproxy.policy.source import PolicySource, load_source


@dataclass
class TestOutcome:
    name: str  # data.pkg.test_x
    file: str
    line: int
    passed: bool
    detail: str = ""


@dataclass
class TestReport:
    outcomes: list[TestOutcome] = field(default_factory=list)
    issues: list[PolicyIssue] = field(default_factory=list)  # compile errors: nothing ran

    @property
    def passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(not o.passed for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return not self.issues and self.failed == 0 and bool(self.outcomes)


_TEST_RULE = re.compile(r"^(test_[A-Za-z0-9_]*)\b", re.MULTILINE)


def _test_rules(text: str) -> list[tuple[str, int]]:
    seen: dict[str, int] = {}
    for m in _TEST_RULE.finditer(text):
        seen.setdefault(m.group(1), text.count("\n", 0, m.start()) + 1)
    return list(seen.items())


def _display(source: PolicySource) -> dict[str, str]:
    return {k: source.display(k) for k in source.all_modules()}


def _evaluate_isolated(modules: dict[str, str], data: dict[str, Any], ref: str,
                       display: dict[str, str], input_doc: Any = None) -> tuple[str, Any, str]:
    """Evaluate ``ref`` in a throwaway worker: a test that crashes the engine fails, the runner lives."""
    from govproxy.policy.workerproc import (
        WorkerCompileError,
        WorkerFailure,
        WorkerProcess,
        parse_eval_reply,
    )

    worker = WorkerProcess()
    try:
        worker.load(modules, data, ref, display)
        payload = b"E" + json.dumps(input_doc if input_doc is not None else {}).encode()
        kind, value, issues = parse_eval_reply(worker.call_sync(payload, 30.0))
        return kind, value, "; ".join(i.message for i in issues)
    except WorkerCompileError as exc:
        return "error", None, str(exc)
    except WorkerFailure as exc:
        return "error", None, f"the engine {exc.kind}ed: {exc}"
    finally:
        worker.kill()


def _compile_isolated(modules: dict[str, str], data: dict[str, Any],
                      display: dict[str, str]) -> list[PolicyIssue] | None:
    """Compile errors (empty list when it compiles), or None when the engine crashed compiling."""
    from govproxy.policy.workerproc import (
        WorkerCompileError,
        WorkerFailure,
        WorkerProcess,
    )

    worker = WorkerProcess()
    try:
        worker.load(modules, data, "data", display)
        return []
    except WorkerCompileError as exc:
        return exc.issues
    except WorkerFailure:
        return None
    finally:
        worker.kill()


def _modules_for(source: PolicySource, rel: str) -> dict[str, str]:
    """The policies, this test file, and the test files whose packages it references (fixtures).

    Compiling test packages separately keeps one test file that crashes the engine from
    failing every other file's tests.
    """
    text = source.tests[rel]
    chosen = {rel: text}
    for other, other_text in source.tests.items():
        pkg = package_of(other_text)
        if other != rel and pkg and re.search(r"\bdata\." + re.escape(pkg) + r"\b", text):
            chosen[other] = other_text
    return {**source.modules, **chosen}


def run_tests(directory: str | Path) -> TestReport:
    source = load_source(directory)
    display = _display(source)
    report = TestReport()
    issues = _compile_isolated(source.all_modules(), source.data, display)
    if issues:
        report.issues = issues
        return report
    for rel, text in sorted(source.tests.items()):
        pkg = package_of(text)
        rules = _test_rules(text)
        if pkg is None or not rules:
            continue
        modules = _modules_for(source, rel)
        ref = f"data.{pkg}"
        # One evaluation per test package; tests that are not plainly true are then
        # evaluated alone, so an error or crash is pinned to the test that caused it.
        kind, whole, _ = _evaluate_isolated(modules, source.data, ref, display)
        for name, line in rules:
            full = f"{ref}.{name}"
            if kind == "value" and isinstance(whole, dict) and whole.get(name) is True:
                report.outcomes.append(TestOutcome(full, display[rel], line, True))
                continue
            skind, value, detail = _evaluate_isolated(modules, source.data, full, display)
            if skind == "value" and value is True:
                report.outcomes.append(TestOutcome(full, display[rel], line, True))
            elif skind == "error":
                report.outcomes.append(TestOutcome(full, display[rel], line, False, detail))
            elif skind == "undefined":
                report.outcomes.append(TestOutcome(full, display[rel], line, False, "undefined"))
            else:
                report.outcomes.append(TestOutcome(full, display[rel], line, False, f"got {value!r}"))
    return report


# --------------------------------------------------------------------------- lint

_REGEX_CALL = re.compile(
    r"\b(regex\.(?:match|find_n|find_all_string_submatch_n|replace|split|is_valid|template_match|globs_match)"
    r"|re_match)\(\s*(`[^`]*`|\"(?:[^\"\\]|\\.)*\")"
)

# (pattern in the regex source, message)
_DIALECT_TRAPS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\(\?[imsU]+\)|\(\?[imsU]*-[imsU]+\)|\(\?[imsU]+:"),
     "inline flags like (?i) are RE2 (OPA) syntax; regopy's ECMAScript regexes reject them"),
    (re.compile(r"\\[zA]"), r"\A and \z are RE2 anchors; ECMAScript has no \A / \z (use ^ and $)"),
    (re.compile(r"\(\?P?<[A-Za-z]"), "named groups differ: RE2 wants (?P<name>...), ECMAScript (?<name>...)"),
    (re.compile(r"\(\?[=!]|\(\?<[=!]"), "lookaround is ECMAScript-only: OPA's RE2 rejects it"),
    (re.compile(r"\\[1-9]"), "backreferences are ECMAScript-only: OPA's RE2 rejects them"),
    (re.compile(r"\(\?>"), "atomic groups are supported by neither RE2 nor ECMAScript"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers are supported by neither RE2 nor ECMAScript"),
    (re.compile(r"\[\[:[a-z]+:\]\]"), "POSIX classes like [[:alpha:]] are RE2-only"),
    (re.compile(r"\\[pP]\{?"), r"\p{...} classes need the unicode flag in ECMAScript; behaviour differs from RE2"),
    (re.compile(r"\((?:[^()]*[+*])\)[+*]"),
     "nested quantifier: catastrophic backtracking in regopy (a large input can crash the engine)"),
]

_MISSING_IN_REGOPY = ("net.", "http.send", "json.match_schema", "json.verify_schema", "opa.runtime",
                      "rego.parse_module", "providers.aws", "io.jwt.decode_verify")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def _blank_comments(text: str) -> str:
    """Replace ``# ...`` comments with spaces (offsets preserved), leaving strings alone."""
    out = list(text)
    quote: str | None = None
    i = 0
    while i < len(out):
        c = out[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in ('"', "`"):
            quote = c
        elif c == "#":
            while i < len(out) and out[i] != "\n":
                out[i] = " "
                i += 1
            continue
        i += 1
    return "".join(out)


def lint_text(text: str, file: str) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []
    text = _blank_comments(text)
    for m in _REGEX_CALL.finditer(text):
        literal = m.group(2)
        pattern = literal[1:-1]
        if literal.startswith('"'):
            pattern = pattern.encode().decode("unicode_escape", errors="replace")
        for trap, message in _DIALECT_TRAPS:
            if trap.search(pattern):
                line, col = _line_col(text, m.start(2))
                issues.append(PolicyIssue(f"{m.group(1)}: {message}", file, line, col, "regex_dialect"))
    for m in re.finditer(r"\bwith\s+input\s+as\b", text):
        line, col = _line_col(text, m.start())
        issues.append(PolicyIssue(
            "`with input as` aborts regopy 1.5.2 when the rule under test references other rules; "
            "prefer functions of the input (see policies/README.md)", file, line, col, "regopy_with"))
    for m in re.finditer(r"(?<![\w.])(min|max)\(", text):
        line, col = _line_col(text, m.start())
        issues.append(PolicyIssue(
            f"{m.group(1)}(): regopy 1.5.2 orders numbers as text here (max([5, 100]) is 5), unlike OPA; "
            "compare with < and > instead (sort() has the same trap: see policies/README.md)",
            file, line, col, "regopy_number_order"))
    for name in _MISSING_IN_REGOPY:
        for m in re.finditer(r"(?<![\w.])" + re.escape(name), text):
            line, col = _line_col(text, m.start())
            issues.append(PolicyIssue(f"{name.rstrip('.')}* is not available in the embedded engine (regopy)",
                                      file, line, col, "missing_builtin"))
    return issues


def check(directory: str | Path, sample_input: dict[str, Any] | None = None) -> tuple[list[PolicyIssue], list[PolicyIssue]]:
    """(errors, warnings) for a policy directory. Errors stop a reload; warnings do not."""
    source = load_source(directory)
    # Tests are compiled and run by `policy test` (isolated); rego-cpp can abort while
    # compiling some `with` constructs, which must not take `check` down with it.
    modules = source.modules
    display = _display(source)
    errors = compile_check(modules, source.data, display)
    warnings: list[PolicyIssue] = []
    for rel, text in source.all_modules().items():
        for issue in lint_text(text, display[rel]):
            (errors if issue.code == "missing_builtin" else warnings).append(issue)
    if errors:
        return errors, warnings
    # rego-cpp reports some mistakes (unknown functions, conflicts) only when evaluating.
    packages = sorted({p for p in (package_of(t) for t in modules.values()) if p})
    for pkg in packages:
        for inp in ([{}, sample_input] if sample_input is not None else [{}]):
            kind, _, detail = _evaluate_isolated(modules, source.data, f"data.{pkg}", display, inp)
            if kind == "error":
                file = next((display[r] for r, t in modules.items() if package_of(t) == pkg), None)
                errors.append(PolicyIssue(f"package {pkg} fails to evaluate: {detail}", file, code="eval_error"))
    return _dedupe(errors), _dedupe(warnings)


def _dedupe(issues: list[PolicyIssue]) -> list[PolicyIssue]:
    seen: set[str] = set()
    out = []
    for i in issues:
        if str(i) not in seen:
            seen.add(str(i))
            out.append(i)
    return out

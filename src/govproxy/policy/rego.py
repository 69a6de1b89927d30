"""In-process regopy: compile a policy set once, evaluate it many times.

This module is what the isolated worker runs, and what the author tools (``policy test``,
``check``, ``eval``) use directly. It talks to regopy's C layer for outputs because the
Python ``Output`` wrapper raises on error outputs instead of reporting them, and it turns
rego-cpp's error trees into ``file:line:col: message`` that an author can act on.

Every interpreter runs with strict built-in errors (a bad regex is an error, not a
silently undefined rule) and with rego-cpp's own console logging off (it would print
compiler errors to our stdout).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import regopy  # type: ignore[import-untyped]
from regopy import Input, Interpreter, LogLevel, RegoError  # type: ignore[import-untyped]
from regopy.rego_shared import (  # type: ignore[import-untyped]
    rego,
    rego_bundle_query,
    rego_free_output,
    rego_node_value,
    rego_output_node,
    rego_output_ok,
    rego_output_string,
)

_NODE_ERROR_SEQ = 1804
_NODE_ERROR = 1800
_NODE_ERROR_MSG = 1801
_NODE_ERROR_CODE = 1803


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy set, located when the engine gives a location."""

    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    code: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.col is not None:
                    where += f":{self.col}"
            where += ": "
        return f"{where}{self.message}"


class PolicyCompileError(Exception):
    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues) or "policy set failed to compile")


@dataclass
class EvalResult:
    """``kind`` is ``value`` (``value`` holds the binding), ``undefined`` or ``error``."""

    kind: str
    value: Any = None
    errors: list[PolicyIssue] = field(default_factory=list)


def new_interpreter() -> Interpreter:
    interp = Interpreter()
    interp.log_level = LogLevel.NONE
    interp.strict_built_in_errors = True
    return interp


def _offset_to_line_col(text: str, offset: int) -> tuple[int, int]:
    raw = text.encode("utf-8")
    offset = max(0, min(offset, len(raw)))
    before = raw[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


_ERR_HEAD = re.compile(r"\(error (\d+):")
_MSG_HEAD = re.compile(r"\(errormsg (\d+):")
_CODE_HEAD = re.compile(r"\(rego-errorcode\)|\(errorcode (\d+):")


def parse_error_tree(text: str, sources: dict[str, str], display: dict[str, str] | None = None) -> list[PolicyIssue]:
    """Turn rego-cpp's s-expression error sequence into located issues.

    The tree names each file as ``<len>:<name>|<byte offset>|<length>``; offsets are
    converted to line and column using the module text we gave the compiler.
    """
    issues: list[PolicyIssue] = []
    pos = 0
    while True:
        m = _ERR_HEAD.search(text, pos)
        if not m:
            break
        n = int(m.group(1))
        start = m.end()
        name = text[start : start + n]
        rest = text[start + n :]
        file = line = col = None
        loc = re.match(r"\|(\d+)\|(\d+)", rest)
        if name in sources and loc:
            file = (display or {}).get(name, name)
            line, col = _offset_to_line_col(sources[name], int(loc.group(1)))
        elif name:
            file = name
        mm = _MSG_HEAD.search(text, start)
        message = "error"
        if mm:
            ln = int(mm.group(1))
            message = text[mm.end() : mm.end() + ln]
        issues.append(PolicyIssue(message=message, file=file, line=line, col=col))
        pos = start + n
    if not issues and text.strip():
        issues.append(PolicyIssue(message=text.strip().splitlines()[0][:500]))
    return issues


def _node_errors(node: int) -> list[PolicyIssue]:
    """Collect (message, code) pairs from an output error node."""
    out: list[PolicyIssue] = []

    def walk(n: int) -> None:
        kind = rego.regoNodeType(n)
        size = rego.regoNodeSize(n)
        if kind == _NODE_ERROR:
            msg = code = None
            for i in range(size):
                child = rego.regoNodeGet(n, i)
                ck = rego.regoNodeType(child)
                if ck == _NODE_ERROR_MSG:
                    msg = rego_node_value(child)
                elif ck == _NODE_ERROR_CODE:
                    code = rego_node_value(child)
            out.append(PolicyIssue(message=msg or "evaluation error", code=code or None))
            return
        for i in range(size):
            walk(rego.regoNodeGet(n, i))

    walk(node)
    return out


def _raw_query(interp: Interpreter, bundle: regopy.Bundle) -> EvalResult:
    impl = rego_bundle_query(interp._impl, bundle._impl)
    try:
        ok = rego_output_ok(impl)
        text = rego_output_string(impl)
        if ok and not text.startswith("(error"):
            if text == "undefined":
                return EvalResult("undefined")
            parsed = json.loads(text)
            results = parsed if isinstance(parsed, list) else [parsed]
            if not results:
                return EvalResult("undefined")
            bindings = results[0].get("bindings", {})
            if "x" not in bindings:
                return EvalResult("undefined")
            return EvalResult("value", bindings["x"])
        return EvalResult("error", errors=_node_errors(rego_output_node(impl)) or [PolicyIssue("evaluation error")])
    finally:
        rego_free_output(impl)


class CompiledPolicy:
    """A policy set compiled once for one query; ``evaluate`` only swaps the input."""

    def __init__(self, modules: dict[str, str], data: dict[str, Any], ref: str,
                 display: dict[str, str] | None = None) -> None:
        if not re.fullmatch(r"data(\.[A-Za-z_][A-Za-z0-9_]*)*", ref):
            raise ValueError(f"not a data reference: {ref!r}")
        self.ref = ref
        self._interp = new_interpreter()
        try:
            if data:
                self._interp.add_data_json(json.dumps(data))
            for name, text in modules.items():
                self._interp.add_module(name, text)
            self._bundle = self._interp.build(f"x = {ref}")
        except RegoError as exc:
            raise PolicyCompileError(parse_error_tree(str(exc), modules, display)) from None
        if not self._bundle.ok():
            raise PolicyCompileError([PolicyIssue("policy set failed to build")])

    def evaluate(self, input_value: Any) -> EvalResult:
        self._interp.set_input(Input(input_value))
        return _raw_query(self._interp, self._bundle)

    def evaluate_json(self, input_json: str) -> EvalResult:
        return self.evaluate(json.loads(input_json))


def compile_check(modules: dict[str, str], data: dict[str, Any], display: dict[str, str] | None = None) -> list[PolicyIssue]:
    """Parse and build every module; returns located issues (empty when the set compiles)."""
    try:
        CompiledPolicy(modules, data, "data", display)
    except PolicyCompileError as exc:
        return exc.issues
    return []


def package_of(text: str) -> str | None:
    m = re.search(r"^\s*package\s+([A-Za-z_][\w.]*)", text, re.MULTILINE)
    return m.group(1) if m else None

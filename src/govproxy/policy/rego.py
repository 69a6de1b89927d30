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

import ctypes
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import regopy  # type: ignore[import-untyped]
from regopy import Interpreter, LogLevel, RegoError  # type: ignore[import-untyped]
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


def json_string_body(text: str) -> bytes:
    """``text`` as rego-cpp stores a string it parsed from JSON: the escaped body, unquoted.

    rego-cpp keeps a string's JSON source form (``a\\"b`` for ``a"b``) and compares
    and prints strings in that form. ``regoInputString`` stores what it is given
    verbatim, so a raw quote, backslash or newline (regopy's ``Input`` passes them raw)
    made the decision unparseable or made ``input.model == "a\\"b"`` false. Escaping
    here gives the same document as rego-cpp's own JSON input.
    """
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text.encode("utf-8")
    return json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8")


class _InputBuilder:
    """Builds a rego-cpp input document from a JSON-shaped Python value, fast.

    Why not ``regopy.Input``: it makes one ctypes call per value through wrappers that
    re-check types (``isinstance`` chains against ``collections.abc``), re-encode every
    string and check every return code; for the ~320 values of a realistic input that
    cost ~550 us per decision, more than the IPC to the worker. Here the C functions are
    called directly without per-call argument conversion, the value's exact type picks
    the call, and repeated strings (keys, provider names) are encoded once. rego-cpp's
    input builder keeps the first error sticky, so one ``regoInputValidate`` at the end
    checks the whole build.
    """

    _MAX_CACHED = 4096

    def __init__(self) -> None:
        lib = ctypes.CDLL(rego._name)  # the library regopy loaded; fresh function objects
        self._new = lib.regoNewInput
        self._new.restype = ctypes.c_void_p
        self._new.argtypes = []
        self._free = lib.regoFreeInput
        self._free.restype = None
        self._free.argtypes = [ctypes.c_void_p]
        self._validate = lib.regoInputValidate
        self._validate.restype = ctypes.c_uint32
        self._validate.argtypes = [ctypes.c_void_p]
        self._set_input = lib.regoSetInput
        self._set_input.restype = ctypes.c_uint32
        self._set_input.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        # Called without argtypes: the handle is passed as a c_void_p, strings as bytes,
        # counts and booleans as small ints, 64-bit ints and doubles wrapped explicitly.
        self._string = lib.regoInputString
        self._int = lib.regoInputInt
        self._float = lib.regoInputFloat
        self._bool = lib.regoInputBoolean
        self._null = lib.regoInputNull
        self._item = lib.regoInputObjectItem
        self._object = lib.regoInputObject
        self._array = lib.regoInputArray
        self._set = lib.regoInputSet
        self._encoded: dict[str, bytes] = {}

    def _bytes(self, text: str) -> bytes:
        raw = self._encoded.get(text)
        if raw is None:
            raw = json_string_body(text)
            if len(self._encoded) < self._MAX_CACHED:
                self._encoded[text] = raw
        return raw

    def set_input(self, interp: Interpreter, value: Any) -> None:
        """Build ``value`` and make it the interpreter's input (the input is copied)."""
        handle = self._new()
        try:
            self._add(ctypes.c_void_p(handle), value)
            code = self._validate(handle)
            if code != 0:
                raise RegoError("Unable to create input", code)
            code = self._set_input(interp._impl, handle)
            if code != 0:
                raise RegoError("Unable to set input", code)
        finally:
            self._free(handle)

    def _add(self, h: ctypes.c_void_p, value: Any) -> None:
        kind = type(value)
        if kind is str:
            self._string(h, self._bytes(value))
        elif kind is dict:
            for key, item in value.items():
                if type(key) is str:
                    self._string(h, self._bytes(key))
                else:
                    self._add(h, key)
                self._add(h, item)
                self._item(h)
            self._object(h, len(value))
        elif kind is list:
            for item in value:
                self._add(h, item)
            self._array(h, len(value))
        elif kind is bool:
            self._bool(h, 1 if value else 0)
        elif kind is int:
            self._int(h, ctypes.c_int64(self._checked(value)))
        elif kind is float:
            self._float(h, ctypes.c_double(value))
        elif value is None:
            self._null(h)
        else:
            self._add_other(h, value)

    @staticmethod
    def _checked(value: int) -> int:
        """rego-cpp takes 64-bit integers; ctypes would wrap a larger one silently."""
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"integer {value} does not fit rego input (64-bit)")
        return value

    def _add_other(self, h: ctypes.c_void_p, value: Any) -> None:
        """Subclasses and other containers (not produced by ``json.loads``), like regopy does."""
        if isinstance(value, bool):
            self._bool(h, 1 if value else 0)
        elif isinstance(value, int):
            self._int(h, ctypes.c_int64(self._checked(int(value))))
        elif isinstance(value, float):
            self._float(h, ctypes.c_double(float(value)))
        elif isinstance(value, str):
            self._string(h, json_string_body(str(value)))
        elif isinstance(value, (set, frozenset)):
            for item in value:
                self._add(h, item)
            self._set(h, len(value))
        elif isinstance(value, Mapping):
            self._add(h, dict(value))
        elif isinstance(value, (tuple, list)):
            self._add(h, list(value))
        else:
            raise TypeError(f"Cannot convert object of type {type(value)} to rego input")


_BUILDER: _InputBuilder | None = None


def set_input_value(interp: Interpreter, value: Any) -> None:
    """Make a JSON-shaped ``value`` the interpreter's input (see ``_InputBuilder``)."""
    global _BUILDER
    if _BUILDER is None:
        _BUILDER = _InputBuilder()
    _BUILDER.set_input(interp, value)


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
        set_input_value(self._interp, input_value)
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

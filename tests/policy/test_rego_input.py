"""The fast input builder must give rego-cpp the same document as its own JSON input."""

from __future__ import annotations

import ctypes
import json
from typing import Any

import pytest
from regopy import Input  # type: ignore[import-untyped]
from regopy.rego_shared import rego  # type: ignore[import-untyped]

from govproxy.policy.rego import (
    EvalResult,
    _raw_query,
    new_interpreter,
    set_input_value,
)
from tests.policy.helpers import make_input

_set_input_json = ctypes.CDLL(rego._name).regoSetInputJSON
_set_input_json.restype = ctypes.c_uint32
_set_input_json.argtypes = [ctypes.c_void_p, ctypes.c_char_p]


def _query(query: str, value: Any, how: str) -> EvalResult:
    interp = new_interpreter()
    bundle = interp.build(f"x = {query}")
    if how == "fast":
        set_input_value(interp, value)
    elif how == "json":  # rego-cpp parsing the JSON text itself: the reference
        assert _set_input_json(interp._impl, json.dumps(value, ensure_ascii=False).encode()) == 0
    else:
        interp.set_input(Input(value))
    return _raw_query(interp, bundle)


REALISTIC = json.loads(make_input({"tenants": {"eu": {"residency": ["eu"]}}}, tenant="eu", sensitivity="confidential",
                                  findings={"EMAIL": 2}).model_dump_json())


@pytest.mark.parametrize("value", [
    REALISTIC,
    {"int": 2**40, "neg": -5, "float": 1.5, "flags": [True, False, None], "empty": {}, "none": [],
     "text": "ü€ spaced", "nested": {"x": [1, [2, {"y": None}]]}},
    [], "just a string", 0, None,
], ids=["policy-input", "scalars-and-nesting", "empty-list", "string", "zero", "null"])
def test_fast_builder_matches_rego_cpp_json_input(value: Any) -> None:
    fast, reference = _query("input", value, "fast"), _query("input", value, "json")
    assert fast.kind == reference.kind == "value"
    assert fast.value == reference.value == value


def test_sets_and_tuples_convert_like_regopy() -> None:
    value = {"set": {1, 2}, "tuple": (1, "a")}
    assert _query("input", value, "fast").value == _query("input", value, "regopy").value


@pytest.mark.parametrize("text", ['gpt"4o', "back\\slash", "new\nline", "tab\there"])
def test_strings_with_quotes_backslashes_and_control_characters(text: str) -> None:
    """regopy's Input passes these raw: the result was unparseable or compared unequal."""
    value = {"model": text}
    literal = json.dumps(text)
    for query in ("input.model", f"input.model == {literal}", '{"m": input.model}'):
        fast = _query(query, value, "fast")
        assert fast.kind == "value" and fast.value == _query(query, value, "json").value
    assert _query("input.model", value, "fast").value == text
    assert _query(f"input.model == {literal}", value, "fast").value is True


def test_out_of_range_integer_is_rejected_not_wrapped() -> None:
    interp = new_interpreter()
    with pytest.raises(ValueError, match="64-bit"):
        set_input_value(interp, {"x": 2**64})


def test_unconvertible_value_is_rejected_and_the_next_input_still_works() -> None:
    interp = new_interpreter()
    bundle = interp.build("x = input.ok")
    with pytest.raises(TypeError, match="Cannot convert"):
        set_input_value(interp, {"x": object()})
    set_input_value(interp, {"ok": True})
    assert _raw_query(interp, bundle).value is True

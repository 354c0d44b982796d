"""Strict JSON loading: inputs that `json.loads` accepts but that would break the handler later.

Each case here was found by the handler fuzzer (tests/fuzz/test_handler_fuzz.py) and used to make
`handler(event, context)` raise or dead-letter with `internal-error`.
"""

from __future__ import annotations

import pytest

from dts_change.core.errors import InputTooLargeError, InvalidJsonError
from dts_change.core.jsonsafe import load_json


def test_load_json_integer_over_digit_limit_is_input_too_large() -> None:
    # GIVEN an integer longer than Python converts (int() raises ValueError, not JSONDecodeError)
    text = '{"id": 1' + "0" * 5000 + "}"
    # THEN it is a classified input error, not a bare ValueError
    with pytest.raises(InputTooLargeError, match="digit limit"):
        load_json(text, what="event")


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1E999"])
def test_load_json_overflowing_float_is_invalid_json(number: str) -> None:
    # An overflowing float became inf, which the ledger then refused to serialise (internal error).
    with pytest.raises(InvalidJsonError, match="out of range"):
        load_json('{"reserved": {"maxRetryTime": ' + number + "}}")


def test_load_json_small_float_underflow_is_kept() -> None:
    assert load_json('{"a": 1e-400}') == {"a": 0.0}


@pytest.mark.parametrize(
    "text",
    [
        '{"id": "\\ud800", "add": ["shop.x"]}',
        '{"add": ["shop.x"], "reserved": {"\\udc00key": 1}}',
        '["shop.\\udbff"]',
        '{"Message": "a\\ud800\\u0041"}',
    ],
)
def test_load_json_lone_surrogate_escape_is_invalid_json(text: str) -> None:
    # A lone surrogate decodes to a str that cannot be encoded as UTF-8 (hashing, logging, FC reply).
    with pytest.raises(InvalidJsonError, match="lone surrogate") as info:
        load_json(text, what="event")
    info.value.message.encode("utf-8")  # the message itself stays encodable


def test_load_json_surrogate_pair_escape_is_one_character() -> None:
    assert load_json('{"name": "\\ud83d\\ude00"}') == {"name": "\U0001f600"}


def test_load_json_escaped_backslash_before_u_is_plain_text() -> None:
    assert load_json('{"name": "\\\\ud800"}') == {"name": "\\ud800"}

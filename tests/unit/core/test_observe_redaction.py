"""Redaction of credentials that arrive inside input text (found by tests/functional/test_security.py:
a presigned FileOssUrl's Signature and security-token reached the dead-letter record verbatim)."""

from __future__ import annotations

import pytest

from dts_change.core.observe import redact_text


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        (
            "https://b.oss-cn-hangzhou.aliyuncs.com/k.json?Expires=1&OSSAccessKeyId=LTAIx&Signature=abc%2Bdef"
            "&security-token=CAIS-tok",
            ("abc%2Bdef", "CAIS-tok"),
        ),
        ("https://b/k?x-oss-signature=v4sig&x-oss-security-token=v4tok&x-oss-date=1", ("v4sig", "v4tok")),
        ("https://dts.aliyuncs.com/?Action=X&SecurityToken=rpctok&Signature=rpcsig", ("rpctok", "rpcsig")),
        ('{"DtsJobId": "j", "SecurityToken": "pasted\\"tok", "Signature" : "pastedsig"}', ("pasted", "pastedsig")),
    ],
)
def test_redact_text_masks_credentials_embedded_in_input(text: str, gone: tuple[str, ...]) -> None:
    out = redact_text(text)
    for value in gone:
        assert value not in out
    assert "***" in out


@pytest.mark.parametrize(
    "text",
    [
        '{"signature": {"name": "signature", "all": true}}',  # a table named signature keeps its entry
        "https://b.oss-cn-hangzhou.aliyuncs.com/k.json?Expires=1&OSSAccessKeyId=LTAIx",
        '{"user_tokens": "kept", "tokenizer": "kept"}',
    ],
)
def test_redact_text_leaves_names_and_public_parameters(text: str) -> None:
    assert redact_text(text) == text

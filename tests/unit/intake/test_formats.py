"""formats.py: the detection precedence table, caps, base64 bodies and the rejection of non-text."""

from __future__ import annotations

import base64
import json

import pytest

from dts_change.core.change import ParsedChange
from dts_change.core.errors import DtsChangeError
from dts_change.intake.detect import Caps, detect_syntax, parse_body
from dts_change.intake.formats.modify_request import ParsedModifyRequest
from tests.conftest import EVENTS_DIR


def _file(name: str) -> bytes:
    return (EVENTS_DIR / "changes" / name).read_bytes()


def _error(data: bytes, **kw) -> DtsChangeError:
    with pytest.raises(DtsChangeError) as info:
        parse_body(data, what="doc", **kw)
    return info.value


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("add-tables.json", "change-document"),
        ("dblist-fragment.json", "dblist"),
        ("table-names.txt", "table-list"),
        ("new-table.sql", "sql-mysql"),
        ("new-table-postgres.sql", "sql-postgres"),
    ],
)
def test_parse_body_every_sample_file_is_detected_by_name_and_by_content(name, fmt):
    by_name = parse_body(_file(name), what=name, name=name)
    by_content = parse_body(_file(name), what=name)  # the table list says "# format: table-list"
    assert isinstance(by_name, ParsedChange) and by_name.format == fmt
    assert isinstance(by_content, ParsedChange) and by_content.format == fmt


def test_parse_body_modify_request_sample_is_detected():
    assert isinstance(parse_body(_file("modify-dts-job-request.json"), what="x"), ParsedModifyRequest)


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("shop.t", "x.json", "json"),
        ("{}", "x.sql", "sql"),
        ("CREATE TABLE a.b (id int)", "x.txt", "table-list"),
        ('{"add": []}', None, "json"),
        ('["a.b"]', "x.unknown", "json"),
        ("-- comment\nCREATE TABLE a.b (id int);", None, "sql"),
        ("/*!40101 SET NAMES utf8 */;", None, "sql"),
        ("# format: table-list\nshop.orders", None, "table-list"),
        ("# list\n#FORMAT:Table-List\ncreate.t1", None, "table-list"),
        ("# format: table-list\nuse.t1\n", None, "table-list"),
        ("test", "tables.txt", "table-list"),
    ],
)
def test_detect_syntax_extension_first_then_content(text, name, expected):
    assert detect_syntax(text, name=name) == expected


@pytest.mark.parametrize(
    "text",
    ["test", "shop.orders", "# list\nshop.orders", "create.t1", "shop.orders\n# format: table-list"],
)
def test_detect_syntax_plain_text_without_its_format_line_is_ambiguous(text):
    with pytest.raises(DtsChangeError) as info:
        detect_syntax(text, name=None, what="doc")
    assert info.value.code == "ambiguous-format"
    assert info.value.details == {"reason": "unmarked-table-list"}
    assert info.value.message.startswith("Ambiguous format in doc: plain text ")
    assert "# format: table-list" in (info.value.hint or "")


def test_parse_body_json_list_of_strings_is_a_table_list():
    parsed = parse_body(b'["shop.a", "shop.b"]', what="doc")
    assert isinstance(parsed, ParsedChange) and parsed.format == "table-list"


def test_parse_body_utf8_bom_is_tolerated():
    parsed = parse_body(b"\xef\xbb\xbf" + _file("add-tables.json"), what="doc")
    assert isinstance(parsed, ParsedChange) and parsed.format == "change-document"


def test_parse_body_base64_change_document_is_decoded_for_mns():
    body = base64.b64encode(_file("add-tables.json"))
    parsed = parse_body(body, what="doc", allow_base64=True)
    assert isinstance(parsed, ParsedChange)
    assert parsed.doc_id == "2024-05-01-shop-orders"
    assert parsed.warnings[0] == "message body was base64-encoded; decoded it"


def test_parse_body_base64_with_line_breaks_is_decoded():
    encoded = base64.encodebytes(_file("table-names.txt"))
    parsed = parse_body(encoded, what="doc", allow_base64=True)
    assert isinstance(parsed, ParsedChange) and parsed.format == "table-list"


def test_parse_body_base64_is_not_decoded_outside_mns():
    encoded = base64.b64encode(b"shop.orders\n")
    parsed = parse_body(encoded, what="doc", name="list.txt")
    assert isinstance(parsed, ParsedChange) and parsed.add is not None
    assert list(parsed.add.to_wire()) == [encoded.decode()]


def test_parse_body_plain_name_that_is_valid_base64_stays_plain():
    # "QUJD" is base64 for "ABC", but a bare name that decodes to text without a dot stays as sent.
    parsed = parse_body(b"# format: table-list\nQUJD\n", what="doc", allow_base64=True)
    assert isinstance(parsed, ParsedChange) and parsed.add is not None
    assert list(parsed.add.to_wire()) == ["QUJD"]


def test_parse_body_over_document_cap_is_input_too_large():
    error = _error(b"a.b\n" * 10, caps=Caps(max_document_bytes=16))
    assert error.code == "input-too-large"
    assert error.message == (
        "Input too large: doc is 40 bytes, over the cap of 16 bytes (DTS_CHANGE_MAX_DOCUMENT_BYTES)"
    )


def test_parse_body_nesting_over_depth_cap_is_input_too_large():
    deep = b'{"add": {"a": {"Table": {"t": {"column": {"c": {"x": {"y": {}}}}}}}}}'
    error = _error(deep, caps=Caps(max_json_depth=5))
    assert error.code == "input-too-large"
    assert error.message == "Input too deeply nested: doc nests deeper than the cap of 5 levels"


def test_parse_body_malformed_utf8_is_invalid_json():
    error = _error(b'{"add": ["shop.\xff"]}')
    assert error.code == "invalid-json"
    assert error.message == "Invalid text in doc: malformed UTF-8 at byte 15"


def test_parse_body_truncated_json_is_invalid_json():
    error = _error(_file("add-tables.json")[:40])
    assert error.code == "invalid-json"
    assert error.message.startswith("Invalid JSON in doc: ")


def test_parse_body_duplicate_keys_are_invalid_json():
    error = _error(b'{"add": ["a.b"], "add": ["a.c"]}')
    assert error.code == "invalid-json"
    assert error.message == "Invalid JSON: duplicate key 'add' in one object"


def test_parse_body_nan_is_invalid_json():
    error = _error(b'{"add": ["a.b"], "dryRun": NaN}')
    assert error.code == "invalid-json"
    assert error.message == "Invalid JSON: NaN is not a JSON value"


def test_parse_body_binary_garbage_is_unknown_format():
    error = _error(bytes(range(0, 40)))
    assert error.code == "unknown-format"
    assert error.message.startswith(
        "Unknown format in doc: binary data (control character '\\x00' at offset 0)"
    )


def test_parse_body_empty_is_unknown_format():
    error = _error(b"  \n\t ")
    assert error.code == "unknown-format"
    assert error.message.startswith(
        "Unknown format in doc: the document is empty; expected one of: a change document"
    )


def test_parse_body_json_object_matching_no_format_is_unknown_format():
    error = _error(b'{"tables": ["a.b"]}')
    assert error.code == "unknown-format"
    assert error.message.startswith(
        "Unknown format in doc: a JSON object with keys ['tables'] matches no change format; expected one of:"
    )


def test_parse_body_json_number_is_unknown_format():
    error = _error(b"[1, 2]")
    assert error.code == "unknown-format"
    assert error.message.startswith("Unknown format in doc: a JSON list matches no change format")


@pytest.mark.parametrize(
    ("doc", "both"),
    [
        (
            {"add": {"name": "add", "all": True}},
            "a change document (keys add) and a DbList fragment (databases add)",
        ),
        (
            {"job": {"name": "job", "all": False, "Table": {"t": {}}}},
            "a change document (keys job) and a DbList fragment (databases job)",
        ),
        (
            {"DbList": {"name": "DbList", "all": True}},
            "a ModifyDtsJob request (parameters DbList) and a DbList fragment (databases DbList)",
        ),
        (
            {"DtsJobId": "j1", "add": ["a.b"]},
            "a ModifyDtsJob request (parameters DtsJobId) and a change document (keys add)",
        ),
    ],
)
def test_parse_body_ambiguous_documents_say_how_to_disambiguate(doc, both):
    error = _error(json.dumps(doc).encode())
    assert error.code == "ambiguous-format"
    assert error.message == f"Ambiguous format in doc: it reads as both {both}"
    assert error.hint.startswith('Wrap a DbList in a change document: {"add": <DbList>}')


def test_parse_body_wrapped_dblist_named_add_is_not_ambiguous():
    parsed = parse_body(json.dumps({"add": {"add": {"name": "add", "all": True}}}).encode(), what="doc")
    assert isinstance(parsed, ParsedChange) and parsed.add is not None
    assert list(parsed.add.to_wire()) == ["add"]


def test_parse_body_sql_statement_cap_is_input_too_large():
    sql = "".join(f"CREATE TABLE a.t{i} (id int);\n" for i in range(6)).encode()
    error = _error(sql, caps=Caps(max_statements=5))
    assert error.code == "input-too-large"
    assert error.message.startswith("Too many table statements in doc: 6, over the cap of 5 (")


def test_parse_body_sql_object_cap_counts_created_tables():
    sql = "".join(f"CREATE TABLE a.t{i} (id int);\n" for i in range(4)).encode()
    error = _error(sql, caps=Caps(max_objects=3))
    assert error.code == "input-too-large"
    assert error.message == "Too many objects in doc: 5 databases and tables, over the cap of 3 objects per change"


def test_parse_body_base64_table_list_with_its_format_line_and_a_bare_database_is_decoded():
    encoded = base64.b64encode(b"# format: table-list\ncrm\n")
    parsed = parse_body(encoded, what="doc", allow_base64=True)
    assert isinstance(parsed, ParsedChange) and parsed.add is not None
    assert list(parsed.add.to_wire()) == ["crm"]


@pytest.mark.parametrize(
    "text",
    ["RENAME TABLE shop.a TO shop.b;", "DELIMITER ;;\nCREATE TRIGGER t ...;;", "\\connect app\nCREATE TABLE a.b (id int);"],
)
def test_detect_syntax_reads_dump_and_migration_openers_as_sql(text):
    assert detect_syntax(text, name=None) == "sql"


def test_detect_syntax_bare_rename_word_in_a_declared_table_list_stays_a_table_list():
    assert detect_syntax("# format: table-list\nrename\nshop.t\n", name=None) == "table-list"

"""Hypothesis strategies for hostile input: mutated sample events and change documents.

A sample is parsed into a tree whose JSON-in-a-string fields (`messageBody`, `Message`,
`requestPayload`, `payload`, a string `DbList`) are themselves trees, so a mutation can land at
any depth and is re-serialised through every layer. Trees may hold `Raw` JSON tokens (numbers
Python cannot write: `1e400`, 5,000-digit integers; deep nesting) and `DupObject`s (one key twice),
which `dumps` writes as they are.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.conftest import EVENTS_DIR

# ---------------------------------------------------------------------- tree nodes


@dataclass(frozen=True)
class Raw:
    """A JSON token written verbatim."""

    text: str


@dataclass(frozen=True)
class DupObject:
    """A JSON object whose pairs may repeat a key."""

    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Embedded:
    """A string field that holds a JSON document (written as a JSON string of `inner`)."""

    inner: Any


def _string(text: str) -> str:
    """Non-ASCII as raw UTF-8 text, lone surrogates as `\\udXXX` escapes (valid JSON syntax)."""
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return json.dumps(text)
    return json.dumps(text, ensure_ascii=False)


def dumps(node: Any) -> str:
    """JSON text of a tree, `Raw` tokens and repeated keys written as they are."""
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, Embedded):
        return _string(dumps(node.inner))
    if isinstance(node, DupObject):
        return "{" + ",".join(f"{_string(k)}:{dumps(v)}" for k, v in node.pairs) + "}"
    if isinstance(node, dict):
        return "{" + ",".join(f"{_string(str(k))}:{dumps(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(dumps(v) for v in node) + "]"
    if isinstance(node, str):
        return _string(node)
    return json.dumps(node)


def embed(value: Any, depth: int = 0) -> Any:
    """Parse JSON-looking strings inside a sample into `Embedded` trees (two layers at most)."""
    if isinstance(value, dict):
        return {k: embed(v, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [embed(v, depth) for v in value]
    if isinstance(value, str) and depth < 2 and value.strip()[:1] in ("{", "["):
        try:
            return Embedded(embed(json.loads(value), depth + 1))
        except ValueError:
            return value
    return value


Path_ = tuple[Any, ...]


def paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every position in a tree (the root is `()`); an `Embedded` step is the marker `"<json>"`."""
    out = [prefix]
    if isinstance(node, Embedded):
        out.extend(paths(node.inner, (*prefix, "<json>")))
    elif isinstance(node, dict):
        for key, child in node.items():
            out.extend(paths(child, (*prefix, key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out.extend(paths(child, (*prefix, index)))
    return out


def get(node: Any, path: Path_) -> Any:
    for step in path:
        node = node.inner if step == "<json>" else node[step]
    return node


def replace_at(node: Any, path: Path_, new: Any) -> Any:
    """A copy of `node` with the subtree at `path` replaced by `new`."""
    if not path:
        return new
    step, rest = path[0], path[1:]
    if step == "<json>":
        return Embedded(replace_at(node.inner, rest, new))
    if isinstance(node, dict):
        return {k: (replace_at(v, rest, new) if k == step else v) for k, v in node.items()}
    copy = list(node)
    copy[step] = replace_at(copy[step], rest, new)
    return copy


# ---------------------------------------------------------------------- hostile values

CONFUSABLE_NAMES = (
    "shор",  # Cyrillic о and р
    "ѕhop",  # Cyrillic dze
    "ｓｈｏｐ",  # fullwidth
    "ＳＨＯＰ",
    "sh\u200dop",  # zero-width joiner
    "shop\u200b",  # zero-width space
    "\u202eshop",  # right-to-left override
    "shop\u0301",  # combining acute
    "sh\u00adop",  # soft hyphen
    "shop\ufeff",  # BOM inside a name
    "оrders",  # Cyrillic о
    "ｏｒｄｅｒｓ",
    "orders\u2060",  # word joiner
    "\u00a0orders",  # no-break space
    "Ω",  # ohm sign, NFKC -> omega
    "ﬁle",  # ligature
    "İ",
    "ß",
    "\U0001d42c\U0001d421\U0001d428\U0001d429",  # mathematical bold "shop"
)
CONFUSABLE_REFS = tuple(f"{db}.orders" for db in CONFUSABLE_NAMES[:6]) + tuple(
    f"shop.{t}" for t in CONFUSABLE_NAMES[10:]
)

HUGE_NUMBERS = (
    Raw("1" + "0" * 5000),
    Raw("-" + "9" * 4400),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    Raw("123456789012345678901234567890"),
    2**63,
    -(2**63) - 1,
    2**53 + 1,
)

NESTING = (
    Raw("[" * 3000 + "]" * 3000),
    Raw('{"a":' * 300 + "1" + "}" * 300),
    Raw("[" * 40 + "1" + "]" * 40),
)

WEIRD_STRINGS = (
    "",
    " ",
    "\x00",
    "\x1b[2J\x1b[31mred",
    "line1\nline2",
    "\ud800",
    "\udfff tail",
    "\U0001f600",
    "../../etc/passwd",
    "shop.orders; DROP TABLE shop.orders",
    "`shop`.`orders",
    '"shop"."orders"',
    "shop..orders",
    ".",
    "a" * 300,
)


def _enormous() -> st.SearchStrategy[str]:
    return st.sampled_from([1_100, 70_000, 1_100_000, 4_300_000]).map(lambda n: "x" * n)


def _base64_garbage() -> st.SearchStrategy[str]:
    return st.binary(min_size=4, max_size=96).map(lambda b: base64.b64encode(b).decode("ascii"))


WRONG_TYPES = st.sampled_from([None, True, False, 0, -1, 1.5, [], {}, [1, "x"], {"x": None}, ["shop.orders"]])

HOSTILE_VALUES: st.SearchStrategy[Any] = st.one_of(
    WRONG_TYPES,
    st.sampled_from(HUGE_NUMBERS),
    st.sampled_from(NESTING),
    st.sampled_from(WEIRD_STRINGS),
    st.sampled_from(CONFUSABLE_NAMES + CONFUSABLE_REFS),
    _enormous(),
    _base64_garbage(),
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)

CONFUSABLE_KEYS = {
    "add": ("аdd", "ａｄｄ", "Add", "ADD", "add\u200b"),
    "remove": ("rеmove", "Remove"),
    "Table": ("table", "Tаble", "TABLE", "Table\u200b"),
    "all": ("All", "аll", "ALL"),
    "DbList": ("dbList", "DbLіst", "DBList"),
    "events": ("еvents", "Events"),
    "messageBody": ("MessageBody", "messagebody"),
}


# ---------------------------------------------------------------------- mutations


@st.composite
def mutate(draw: st.DrawFn, tree: Any, max_mutations: int = 3) -> Any:
    """1..max_mutations structural mutations at random positions of `tree`."""
    for _ in range(draw(st.integers(1, max_mutations))):
        path = draw(st.sampled_from(paths(tree)))
        target = get(tree, path)
        ops = ["replace", "wrap"]
        if isinstance(target, dict) and target:
            ops += ["delete", "add-key", "duplicate", "rename"]
        op = draw(st.sampled_from(ops))
        if op == "replace":
            new: Any = draw(HOSTILE_VALUES)
        elif op == "wrap":
            new = draw(st.sampled_from(["list", "dict", "string"]))
            new = [target] if new == "list" else {"x": target} if new == "dict" else Embedded(target)
        else:
            key = draw(st.sampled_from(sorted(target)))
            if op == "delete":
                new = {k: v for k, v in target.items() if k != key}
            elif op == "add-key":
                extra = draw(st.sampled_from(["extra", "Table", "all", "name", "add", "remove", "job", "id", "FileOssUrl", key + "_"]))
                new = {**target, extra: draw(HOSTILE_VALUES)}
            elif op == "duplicate":
                new = DupObject((*target.items(), (key, draw(HOSTILE_VALUES))))
            else:
                renamed = draw(st.sampled_from(CONFUSABLE_KEYS.get(key, (key.upper(), key + "\u200b", "х" + key[1:]))))
                new = {(renamed if k == key else k): v for k, v in target.items()}
        tree = replace_at(tree, path, new)
    return tree


INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xc0\xaf")


@st.composite
def mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """One textual mutation: truncation, an invalid UTF-8 sequence, a flipped byte, or a prefix."""
    op = draw(st.sampled_from(["truncate", "invalid-utf8", "flip", "prefix", "none"]))
    if not data or op == "none":
        return data
    at = draw(st.integers(0, len(data) - 1))
    if op == "truncate":
        return data[:at]
    if op == "invalid-utf8":
        return data[:at] + draw(st.sampled_from(INVALID_UTF8)) + data[at:]
    if op == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return draw(st.sampled_from([b"\xef\xbb\xbf", b"\x00", b"  \n", b"\x1f\x8b"])) + data


# ---------------------------------------------------------------------- samples

TRIGGER_SAMPLES = (
    "oss-object-created.json",
    "oss-object-deleted.json",
    "eventbridge-oss-object-created.json",
    "eventbridge-oss-batch.json",
    "mns-queue-batch-cloudevents.json",
    "mns-queue-batch-base64.json",
    "mns-queue-rawdata.json",
    "mns-topic-json.json",
    "mns-topic-json-attributes.json",
    "mns-topic-stream-attrs.json",
    "timer.json",
    "manual-change.json",
    "manual-modify-dts-job.json",
    "fc-failure-record.json",
    "inline:manual-reconcile",
)
INLINE_SAMPLES: dict[str, Any] = {
    "inline:manual-reconcile": {"action": "reconcile", "job": {"dtsJobId": "dtsjob1demo", "direction": "Forward"}},
}
"""Trigger shapes with no file under events/ (a manual `{"action": "reconcile"}` invocation)."""
CHANGE_SAMPLES = (
    "changes/add-tables.json",
    "changes/dblist-fragment.json",
    "changes/modify-dts-job-request.json",
    "manual-change.json",
    "manual-modify-dts-job.json",
)
TEXT_SAMPLES = (
    "changes/new-table.sql",
    "changes/new-table-postgres.sql",
    "changes/table-names.txt",
    "mns-topic-stream-raw.txt",
)


def sample_tree(name: str) -> Any:
    return embed(json.loads(sample_text(name)))


def sample_text(name: str) -> str:
    if name in INLINE_SAMPLES:
        return json.dumps(INLINE_SAMPLES[name])
    return (EVENTS_DIR / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------- change bodies

NAME_PARTS = st.one_of(
    st.sampled_from(["shop", "orders", "crm", "staging", "tmp_import", "hr", "new_t", "order.archive"]),
    st.sampled_from(CONFUSABLE_NAMES),
    st.text(min_size=1, max_size=10),
    st.sampled_from(WEIRD_STRINGS),
)


def _quote(name: str, style: str) -> str:
    if style == "backtick":
        return "`" + name.replace("`", "``") + "`"
    if style == "double":
        return '"' + name.replace('"', '""') + '"'
    return name


@st.composite
def table_list_text(draw: st.DrawFn) -> str:
    """Lines of `db.table` names, quoted or not, with comments and hostile names."""
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        style = draw(st.sampled_from(["plain", "backtick", "double"]))
        db = _quote(draw(NAME_PARTS), style)
        table = draw(st.none() | NAME_PARTS)
        line = db if table is None else f"{db}.{_quote(table, style)}"
        if draw(st.booleans()):
            line += draw(st.sampled_from(["  # comment", "\t", " -- x", "#"]))
        lines.append(line)
    signal = draw(st.sampled_from(["# format: table-list\n", "# format: table-list\n", ""]))
    return signal + "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


@st.composite
def sql_text(draw: st.DrawFn) -> str:
    """DDL: a sample file mutated as text, or generated statements with hostile identifiers."""
    if draw(st.booleans()):
        text = sample_text(draw(st.sampled_from(TEXT_SAMPLES[:2])))
        at = draw(st.integers(0, len(text)))
        insert = draw(st.sampled_from(["", ";", "(", "`", "'", "/*", "CREATE TABLE ", "\x00", "ｓｈｏｐ", "\u202e"]))
        return text[:at] + insert + text[at + draw(st.integers(0, 40)) :]
    statements = []
    for _ in range(draw(st.integers(1, 4))):
        style = draw(st.sampled_from(["plain", "backtick", "double"]))
        db = _quote(draw(NAME_PARTS), style)
        table = _quote(draw(NAME_PARTS), style)
        kind = draw(st.sampled_from(["table", "qualified", "database", "drop", "use"]))
        statements.append(
            {
                "table": f"CREATE TABLE {table} (id INT PRIMARY KEY)",
                "qualified": f"CREATE TABLE IF NOT EXISTS {db}.{table} (id BIGINT, v JSON)",
                "database": f"CREATE DATABASE {db}",
                "drop": f"DROP TABLE {db}.{table}",
                "use": f"USE {db}",
            }[kind]
        )
    return ";\n".join(statements) + draw(st.sampled_from([";", "", ";;", "; garbage"]))


@st.composite
def change_body(draw: st.DrawFn) -> tuple[str, bytes]:
    """(format, body bytes) of one change in any of the five formats, hostile in some way."""
    fmt = draw(st.sampled_from(["json", "json", "table-list", "sql", "text-sample", "generated-doc"]))
    if fmt == "json":
        tree = draw(mutate(sample_tree(draw(st.sampled_from(CHANGE_SAMPLES)))))
        body = dumps(tree).encode("utf-8", "surrogatepass")
    elif fmt == "table-list":
        body = draw(table_list_text()).encode("utf-8", "surrogatepass")
    elif fmt == "sql":
        body = draw(sql_text()).encode("utf-8", "surrogatepass")
    elif fmt == "text-sample":
        body = sample_text(draw(st.sampled_from(TEXT_SAMPLES))).encode("utf-8")
    else:
        doc: dict[str, Any] = {}
        if draw(st.booleans()):
            doc["id"] = draw(st.sampled_from(["fz-1", "fz-2"]) | HOSTILE_VALUES)
        if draw(st.booleans()):
            doc["add"] = draw(st.lists(st.sampled_from((*CONFUSABLE_REFS, "shop.new_t", "crm")) | HOSTILE_VALUES, max_size=4))
        if draw(st.booleans()):
            doc["remove"] = draw(st.lists(st.sampled_from(["staging.tmp_import", "hr", "shop.orders"]) | HOSTILE_VALUES, max_size=3))
        if draw(st.booleans()):
            doc["job"] = draw(st.sampled_from(["dtsjob1demo", {"dtsJobId": "dtsjob1demo", "direction": "Reverse"}]) | HOSTILE_VALUES)
        if draw(st.booleans()):
            doc["reserved"] = draw(st.sampled_from([{"maxRetryTime": 100}, '{"a":1}']) | HOSTILE_VALUES)
        body = dumps(doc).encode("utf-8", "surrogatepass")
    return fmt, draw(mutate_bytes(body)) if draw(st.booleans()) else body


def as_text(body: bytes) -> str:
    """Body bytes as a str for a JSON wrapper (bad bytes become lone surrogates, as escapes)."""
    return body.decode("utf-8", "surrogateescape")

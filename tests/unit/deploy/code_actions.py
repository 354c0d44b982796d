"""Which cloud actions the clients' code can call, derived from their source text.

The RAM policy must grant every one of them (and nothing more), so the policy test reads them
from the code instead of from a list kept by hand.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

# OSS request shapes -> RAM actions (OSS authorization reference: ListObjectsV2 is
# oss:ListObjects, HeadObject and GetObjectMeta are oss:GetObject, AppendObject and the
# multipart upload calls are oss:PutObject, a batch delete is oss:DeleteObject).
OSS_METHOD_ACTIONS = {
    "GET": {"oss:GetObject"},
    "HEAD": {"oss:GetObject"},
    "PUT": {"oss:PutObject"},
    "DELETE": {"oss:DeleteObject"},
    "POST": {"oss:PostObject (review: batch delete or form upload)"},
}
_POST_REVIEW = "oss:PostObject (review: batch delete or form upload)"
OSS_MARKER_ACTIONS = {
    "list-type": {"oss:ListObjects"},
    "continuation-token": {"oss:ListObjects"},
    "x-oss-copy-source": {"oss:GetObject", "oss:PutObject"},
    "delete": {"oss:DeleteObject"},
    "append": {"oss:PutObject"},
    "acl": {"oss:GetObjectAcl", "oss:PutObjectAcl"},
    "tagging": {"oss:GetObjectTagging", "oss:PutObjectTagging"},
    "symlink": {"oss:GetObject", "oss:PutObject"},
    "restore": {"oss:RestoreObject"},
    "uploads": {"oss:ListMultipartUploads", "oss:PutObject"},
    "uploadId": {"oss:ListParts", "oss:AbortMultipartUpload", "oss:PutObject"},
}
# OSS API operation names -> RAM actions; any other operation named in the code maps to
# `oss:<Operation>`, which the policy lacks, so a new call forces a policy review.
OSS_OPERATION_ACTIONS = {
    "GetObject": {"oss:GetObject"},
    "HeadObject": {"oss:GetObject"},
    "GetObjectMeta": {"oss:GetObject"},
    "PutObject": {"oss:PutObject"},
    "AppendObject": {"oss:PutObject"},
    "DeleteObject": {"oss:DeleteObject"},
    "DeleteMultipleObjects": {"oss:DeleteObject"},
    "ListObjects": {"oss:ListObjects"},
    "ListObjectsV2": {"oss:ListObjects"},
    "CopyObject": {"oss:GetObject", "oss:PutObject"},
}
_HTTP_VERB_CALLS = {"get": "GET", "head": "HEAD", "put": "PUT", "delete": "DELETE", "post": "POST"}
_WORD = re.compile(r"\b[A-Z][A-Za-z]+\b")
_SDK_ACTION = re.compile(r"action\s*=\s*['\"]([A-Za-z]+)['\"]")
_SDK_OSS_OPERATION = re.compile(r"op_name\s*=\s*['\"]([A-Za-z]+)['\"]")


def dts_action_universe() -> frozenset[str]:
    """Every DTS OpenAPI action name, read from the official SDK (a test-only dependency)."""
    spec = importlib.util.find_spec("alibabacloud_dts20200101")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    client = Path(next(iter(spec.submodule_search_locations))) / "client.py"
    return frozenset(_SDK_ACTION.findall(client.read_text(encoding="utf-8")))


def oss_operation_universe() -> frozenset[str]:
    """Every OSS API operation name, read from the official OSS V2 SDK (test-only dependency)."""
    spec = importlib.util.find_spec("alibabacloud_oss_v2")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    root = Path(next(iter(spec.submodule_search_locations)))
    names: set[str] = set()
    for path in root.rglob("*.py"):
        names |= set(_SDK_OSS_OPERATION.findall(path.read_text(encoding="utf-8")))
    return frozenset(names) | frozenset(OSS_OPERATION_ACTIONS)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def string_literals(source: str) -> Iterator[str]:
    """Every string constant in the code, docstrings excluded (they describe, they do not call)."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        if isinstance(node.value, str):
            yield node.value


def constant_actions(source: str) -> set[str]:
    """Strings inside module-level constants whose name mentions ACTION (e.g. DTS_ACTIONS)."""
    found: set[str] = set()
    for node in ast.parse(source).body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and "ACTION" in t.id.upper() for t in targets):
            found |= {
                n.value for n in ast.walk(value) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            }
    return found


def dts_actions_called(sources: Iterable[str], universe: frozenset[str]) -> set[str]:
    """`dts:<Action>` for every DTS action named in the code's strings or ACTION constants."""
    names: set[str] = set()
    for source in sources:
        names |= constant_actions(source)
        for literal in string_literals(source):
            names |= {w for w in _WORD.findall(literal) if w in universe}
    return {f"dts:{name}" for name in names}


def oss_actions_called(
    sources: Iterable[str], operations: frozenset[str] = frozenset(OSS_OPERATION_ACTIONS)
) -> set[str]:
    """RAM actions implied by the operations, HTTP methods, sub-resources and headers used."""
    actions: set[str] = set()
    sources_seen: list[str] = []
    for source in sources:
        sources_seen.append(source)
        for literal in string_literals(source):
            actions |= OSS_METHOD_ACTIONS.get(literal, set())
            actions |= OSS_MARKER_ACTIONS.get(literal, set())
            for word in _WORD.findall(literal):
                if word in operations:
                    actions |= OSS_OPERATION_ACTIONS.get(word, {f"oss:{word}"})
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                verb = _HTTP_VERB_CALLS.get(node.func.attr)
                if verb is not None:
                    actions |= OSS_METHOD_ACTIONS[verb]
    # Reviewed: the clients' only POST is DeleteMultipleObjects (named, with the `delete`
    # sub-resource), which OSS authorizes as oss:DeleteObject on each object.
    if _POST_REVIEW in actions and "DeleteMultipleObjects" in " ".join(sources_seen):
        actions.discard(_POST_REVIEW)
    return actions

"""Write docs/errors.md from the error classes and the remote-code tables (run after adding a code).

The meaning and advice come from each class's docstring and hint, so the page cannot drift from
the code; tests/unit/test_docs_errors.py checks the page lists every code exactly as generated.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from dts_change.clients import remote_errors  # noqa: E402
from dts_change.core import errors  # noqa: E402

GROUPS = {
    "transient": "retried with backoff inside the invocation; then the change stays pending",
    "job_busy": "not retried in the invocation; the change stays pending and a later pass applies it",
    "credentials": "credentials are reloaded once and the call retried",
    "permanent": "not retried: the change is dead-lettered (input errors) or left pending with the error noted (job-level errors), as the section says",
    "internal": "not retried: the pass is aborted and nothing is written",
}

ACTION = {
    "dbobject-unreadable": "The change stays pending (nothing is written) and is dead-lettered at its maximum age.",
    "permission-denied": "The change stays pending with this error noted, so fixing the role lets it proceed; dead-lettered at its maximum age.",
    "signature-mismatch": "The change stays pending with this error noted; dead-lettered at its maximum age.",
    "invalid-configuration": "Raised at start-up (initializer) or by the CLI; nothing is processed until it is fixed.",
    "insecure-endpoint": "Raised at start-up; nothing is sent.",
    "guard-violation": "Nothing is sent. The changes of the write that touch a database of a lost path are dead-lettered; the others wait for the next pass, guarded again (all are dead-lettered when none touches one).",
    "job-ids-disagree": "Dead-lettered at intake, before the ledger; nothing is sent to either job.",
    "job-region-mismatch": "Dead-lettered at intake, or by the pass for a change already in the ledger; nothing is sent to any region.",
}


def leaf_classes() -> list[type[errors.DtsChangeError]]:
    out = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.DtsChangeError)
    ]
    return sorted(out, key=lambda c: c.code)


def remote_codes_for(cls: type[errors.DtsChangeError]) -> list[str]:
    found = []
    for table_name in ("DTS_ERRORS", "OSS_ERRORS"):
        table = getattr(remote_errors, table_name, {})
        service = "DTS" if table_name == "DTS_ERRORS" else "OSS"
        for code, rule in table.items():
            if rule.error is cls:
                found.append(f"{service} `{code}`")
    return found


def render() -> str:
    lines = [
        "# Error reference",
        "",
        "Every error this project reports has a stable code (below), a category that decides what",
        "happens next, and a hint. Results, log lines and dead-letter records carry `code`,",
        "`message` (what failed, where, the offending value, what was expected) and `hint`.",
        "This page is generated from `src/dts_change/core/errors.py` by `scripts/gen_errors_doc.py`.",
        "",
        "| category | what happens |",
        "|---|---|",
    ]
    for cat, text in GROUPS.items():
        lines.append(f"| `{cat}` | {text} |")
    lines += ["", "DTS documents most codes twice, bare and with a `DTS.Msg.` prefix; both map the same way.", ""]
    for cls in leaf_classes():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        lines.append(f"## `{cls.code}`")
        lines.append("")
        lines.append(f"{doc}")
        lines.append("")
        lines.append(f"- class: `{cls.__name__}`; category: `{cls.category}`; retried: {'yes' if cls.retryable else 'no'}")
        remote = remote_codes_for(cls)
        if remote:
            lines.append(f"- raised for: {', '.join(remote)}")
        if cls.code in ACTION:
            lines.append(f"- what happens: {ACTION[cls.code]}")
        hint = cls.default_hint or "See the message: it names the field or value to fix."
        lines.append(f"- what to do: {hint}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    target = ROOT / "docs" / "errors.md"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

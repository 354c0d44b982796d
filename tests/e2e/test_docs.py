"""The docs cannot rot: every command block is marked, runnable ones run, cloud ones name real things.

Markers (an HTML comment on the line before the fence):
- `<!-- runnable -->`: each command line is executed from the repository root (with `.venv/bin`
  on PATH) and must exit 0; `make` lines are checked against the Makefile instead (`make test`
  is this very suite, `make run` is the demo test);
- `<!-- runnable-server -->`: a long-running command; it must print `listening on` and is then
  stopped;
- `<!-- cloud -->`: needs an account; every file it names must exist and every flag of `s`,
  `dts-change`, `make` and `scripts/package.py` must be one those tools accept;
- `<!-- long -->`: runs here but takes minutes (long fuzzing, hundreds of seeds): checked like a
  cloud block.
A fence without a language whose lines look like commands counts as a command block too.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
COMMAND_LANGS = {"bash", "sh", "shell", "console"}
MARKER = re.compile(r"<!--\s*(runnable-server|runnable|cloud|long)\s*-->")
COMMAND_START = re.compile(r"^(\$ )?(\.venv/bin/|make |dts-change |s |python|PYTHONPATH=|[A-Z_]+=\S+ \S)")

# Flags of Serverless Devs 3 / fc3 subcommands used in the docs (from the fc3 help texts).
S_FLAGS = {
    "deploy": {"-y", "--assume-yes", "--function", "--trigger", "-t", "--template"},
    "invoke": {"-f", "--event-file", "-e", "--event", "--invocation-type", "--qualifier", "--timeout", "-t"},
    "logs": {"--tail", "-s", "--start-time", "-e", "--end-time", "--request-id", "--keyword", "--type"},
    "remove": {"-y", "--assume-yes"},
    "plan": set(),
    "build": {"--publish-layer", "--command", "--script-file", "--custom-args"},
    "local": {"-e", "--event", "-f", "--event-file"},
    "config": set(),
}
PACKAGE_FLAGS = {"--python-version", "--output", "--platform", "--python", "--no-precompile"}


def s_yaml_resources() -> set[str]:
    """Resource names of s.yaml: `s <resource> <command>` acts on one of them only."""
    import yaml

    return set(yaml.safe_load((REPO_ROOT / "s.yaml").read_text(encoding="utf-8"))["resources"])


@dataclass
class Block:
    doc: Path
    line: int
    marker: str | None
    lang: str
    lines: list[str]

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO_ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        out = []
        for raw in self.lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            line = line[2:] if line.startswith("$ ") else line
            out.append(re.sub(r"\s+#.*$", "", line))
        return out


def blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(text):
            fence = re.match(r"^```(\w*)\s*$", text[i])
            if not fence:
                i += 1
                continue
            lang = fence.group(1)
            j = i + 1
            while j < len(text) and not text[j].startswith("```"):
                j += 1
            prev = next((text[k] for k in range(i - 1, -1, -1) if text[k].strip()), "")
            marker = MARKER.search(prev)
            found.append(Block(doc, i + 1, marker.group(1) if marker else None, lang, text[i + 1 : j]))
            i = j + 1
    return found


def is_command_block(block: Block) -> bool:
    if block.lang in COMMAND_LANGS:
        return True
    lines = [line for line in block.lines if line.strip() and not line.lstrip().startswith("#")]
    return block.lang == "" and bool(lines) and all(COMMAND_START.match(line.strip()) for line in lines)


COMMAND_BLOCKS = [b for b in blocks() if is_command_block(b)]


def test_docs_have_command_blocks_of_both_kinds():
    markers = {b.marker for b in COMMAND_BLOCKS}
    assert {"runnable", "cloud"} <= markers


@pytest.mark.parametrize("block", COMMAND_BLOCKS, ids=lambda b: b.where)
def test_every_command_block_is_marked(block: Block):
    assert block.marker is not None, f"{block.where}: mark the block <!-- runnable --> or <!-- cloud -->"


def make_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, re.M))


def run_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "DTS_", "OSS_"))}
    env["PATH"] = f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    return env


@pytest.mark.parametrize("block", [b for b in COMMAND_BLOCKS if b.marker == "runnable"], ids=lambda b: b.where)
def test_runnable_blocks_run(block: Block):
    for command in block.commands():
        words = shlex.split(command)
        if words[0] == "make":
            assert set(words[1:]) <= make_targets(), f"{block.where}: unknown make target in {command!r}"
            continue
        proc = subprocess.run(
            command, shell=True, cwd=REPO_ROOT, env=run_env(), capture_output=True, text=True, timeout=180,
            executable="/bin/bash", check=False,
        )
        assert proc.returncode == 0, f"{block.where}: {command!r} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


@pytest.mark.parametrize("block", [b for b in COMMAND_BLOCKS if b.marker == "runnable-server"], ids=lambda b: b.where)
def test_runnable_server_blocks_start_and_stop(block: Block):
    command = block.commands()[0]
    proc = subprocess.Popen(shlex.split(command), cwd=REPO_ROOT, env=run_env(), stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert first.startswith("listening on http://127.0.0.1:"), f"{block.where}: {first!r}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


PATH_TOKEN = re.compile(r"^(?:\./)?(?:events|docs|src|scripts|tests|bench)/[\w./-]+$|^s\.yaml$|^Makefile$")


def _cli_flags() -> dict[str, set[str]]:
    from dts_change.app.cli import build_parser

    parser = build_parser()
    out: dict[str, set[str]] = {}
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            flags = {opt for a in sub._actions for opt in a.option_strings}
            out[name] = flags
    return out


@pytest.mark.parametrize("block", [b for b in COMMAND_BLOCKS if b.marker in ("cloud", "long")], ids=lambda b: b.where)
def test_cloud_blocks_name_existing_files_and_real_flags(block: Block):
    cli_flags = _cli_flags()
    for command in block.commands():
        words = shlex.split(command)
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words = words[1:]  # leading VAR=value assignments
        for word in words:
            value = word.split("=", 1)[-1] if word.startswith("--") else word
            if PATH_TOKEN.match(value):
                assert (REPO_ROOT / value).exists(), f"{block.where}: {value} does not exist"
        tool = words[0]
        flags = [w.split("=", 1)[0] for w in words[1:] if w.startswith("-")]
        if tool == "s" and len(words) > 1 and words[1] in ("invoke", "logs"):
            # With two functions in s.yaml, a bare `s invoke` sends the event to both.
            raise AssertionError(f"{block.where}: name the function: s <resource> {words[1]} ...")
        if tool == "s" and len(words) > 2 and words[1] in s_yaml_resources():
            words = [words[0], *words[2:]]  # `s <resource> <command>`
        if tool == "s" and len(words) > 1:
            allowed = S_FLAGS.get(words[1])
            assert allowed is not None, f"{block.where}: unknown s subcommand {words[1]!r}"
            assert set(flags) <= allowed, f"{block.where}: unknown flags {set(flags) - allowed}"
        elif tool == "dts-change":
            assert words[1] in cli_flags, f"{block.where}: unknown dts-change command {words[1]!r}"
            assert set(flags) <= cli_flags[words[1]] | {"-h", "--help"}, f"{block.where}: {flags}"
        elif tool == "make":
            assert set(words[1:]) <= make_targets()
        elif "scripts/package.py" in words:
            assert set(flags) <= PACKAGE_FLAGS, f"{block.where}: {flags}"

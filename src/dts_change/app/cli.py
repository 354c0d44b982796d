"""The `dts-change` command: invoke the real handler, plan, reconcile, status, history, dead letters.

Examples:
    dts-change invoke events/oss-object-created.json --local   # the demo (make run)
    dts-change plan events/changes/add-tables.json --local      # what would change; writes nothing
    dts-change status --local                                   # settled? (exit 1 when not)
    dts-change history dtsjob1demo --local --object shop.orders # audit trail, newest first
    dts-change dlq list --local                                 # dead letters waiting
    dts-change local reset                                      # start the local deployment over
    dts-change emulator --port 0                                # local DTS + OSS on 127.0.0.1

`--local` runs against a persistent local deployment (`.dts-change/local/`, or `--state-dir`):
the emulated job, the ledger and the dead letters are kept between commands.

Exit status: 0 when everything was applied, submitted or pending (status: settled); 1 when
anything was dead-lettered or failed (status: something waits); 2 for usage or configuration errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO, cast

from ..core.errors import ConfigurationError, DtsChangeError, ReplayRefusedError

TIMER_EVENT = json.dumps(
    {"triggerTime": "1970-01-01T00:00:00Z", "triggerName": "dts-change-cli", "payload": '{"action":"reconcile"}'}
)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def fc_context(timeout: float = 60.0, request_id: str | None = None) -> Any:
    """An FC-like context: request id and function timeout (no credentials: they come from env)."""
    return SimpleNamespace(
        request_id=request_id or f"cli-{uuid.uuid4().hex[:12]}",
        function=SimpleNamespace(name="dts-change-cli", handler="index.handler", memory=512, timeout=timeout),
        region=None,
        account_id=None,
    )


def build_app(env: Mapping[str, str] | None, *, dry_run: bool = False, log_stream: TextIO | None = None) -> Any:
    from ..core.observe import configure_logging  # noqa: PLC0415
    from .handler import App  # noqa: PLC0415
    from .settings import Settings  # noqa: PLC0415

    merged = dict(os.environ if env is None else env)
    if dry_run:
        merged["DTS_CHANGE_DRY_RUN"] = "true"
    settings = Settings.from_env(merged)
    configure_logging(settings.log_level, stream=log_stream or sys.stderr)
    return App(settings)


@contextlib.contextmanager
def deployment(args: argparse.Namespace, *, dry_run: bool = False, scratch: bool = False) -> Iterator[Any]:
    """The App for this command: the local deployment (`--local`) or the environment's settings.

    Yields (app, run): `run` is the `LocalRun` with `--local`, else None."""
    if not getattr(args, "local", False):
        if not scratch:
            yield build_app(None, dry_run=dry_run), None
            return
        # A plan writes nothing: dead letters go to a folder deleted afterwards, and a local ledger
        # is read from a copy there (an OSS ledger is only read), so not even a folder is created.
        with tempfile.TemporaryDirectory(prefix="dts-change-plan-") as folder:
            env = dict(os.environ)
            ledger = env.get("DTS_CHANGE_LEDGER") or (Path.cwd() / ".dts-change" / "ledger").as_uri()
            if not ledger.startswith("oss://"):
                copy = Path(folder) / "ledger"
                source = Path(urllib.parse.unquote(urllib.parse.urlparse(ledger).path))
                if source.is_dir():
                    shutil.copytree(source, copy)
                env["DTS_CHANGE_LEDGER"] = copy.as_uri()
            env["DTS_CHANGE_DEAD_LETTER"] = (Path(folder) / "dead-letter").as_uri()
            yield build_app(env, dry_run=dry_run), None
        return
    from .local_deploy import LocalDeployment  # noqa: PLC0415

    seed = Path(args.state) if getattr(args, "state", None) else None
    with LocalDeployment(args.state_dir).open(seed=seed, persist=not scratch) as run:
        yield build_app(run.env, dry_run=dry_run), run


# ---------------------------------------------------------------------- human output


def _dblist_lines(db_list: Mapping[str, Any], indent: str = "  ") -> list[str]:
    from ..core.dblist import ObjectRef  # noqa: PLC0415

    lines = []
    for db, entry in db_list.items():
        name = entry.get("name", db)
        shown_db = str(ObjectRef(db))
        rename = f" -> {ObjectRef(name)}" if name != db else ""
        if entry.get("all", True) is not False:
            lines.append(f"{indent}{shown_db}{rename} (whole database)")
            continue
        tables = entry.get("Table") or {}
        shown = ", ".join(
            str(ObjectRef(t))
            + (f" -> {ObjectRef(str(e['name']))}" if isinstance(e, dict) and e.get("name") not in (None, t) else "")
            for t, e in tables.items()
        )
        lines.append(f"{indent}{shown_db}{rename}: {shown}")
    return lines or [f"{indent}(empty)"]


def _diff_lines(diff: Mapping[str, Any] | None, indent: str = "  ") -> list[str]:
    if not diff:
        return []
    out = [f"{indent}+ {ref}" for ref in diff.get("added", [])]
    out += [f"{indent}- {ref}" for ref in diff.get("removed", [])]
    out += [f"{indent}~ {ref}" for ref in diff.get("changed", [])]
    out += [f"{indent}! {w}" for w in diff.get("warnings", [])]
    return out


def _counts(diff: Mapping[str, Any] | None) -> str:
    if not diff:
        return ""
    return f" [+{diff.get('added', 0)} -{diff.get('removed', 0)} ~{diff.get('changed', 0)}]"


def _error_lines(change: Mapping[str, Any]) -> list[str]:
    if not change.get("code"):
        return []
    lines = [f"  {change['code']}: {change.get('message', '')}"]
    if change.get("hint"):
        lines.append(f"  hint: {change['hint']}")
    return lines


def print_plan(result: Mapping[str, Any], out: TextIO) -> None:
    """A plan's words say what *would* happen; nothing was written."""
    for change in result.get("changes", []):
        plan = change.get("plan") or {}
        if change.get("rejected"):
            verdict = "would be dead-lettered (the input is invalid)"
        elif plan.get("status") == "rejected":
            verdict = "would be dead-lettered"
        elif change.get("code") and not plan:
            verdict = f"could not be planned ({change['code']})"
        elif plan.get("status") == "no_op":
            verdict = "would change nothing (already as asked)"
        else:
            phases = " then ".join(plan.get("phases") or []) or "no"
            verdict = f"would be submitted ({phases} phase{'s' if len(plan.get('phases') or []) > 1 else ''})"
        _print_change_head(change, verdict, out)
        for line2 in _diff_lines(plan.get("diff")):
            print(line2.replace("  + ", "  would add ").replace("  - ", "  would remove ")
                  .replace("  ~ ", "  would change ").replace("  ! ", "  warning: "), file=out)
        for line2 in _error_lines(change):
            print(line2, file=out)
    for item in result.get("ignored", []):
        print(f"would ignore {item['correlationId']}: {item['reason']}", file=out)


def _print_change_head(change: Mapping[str, Any], verdict: str, out: TextIO) -> None:
    """The line every change gets, in `invoke` and in `plan` alike: id, verdict, job, counts, warnings."""
    line = f"change {change['id']}: {verdict}"
    if change.get("job"):
        line += f" (job {change['job']})"
    print(line + _counts(change.get("diff")), file=out)
    for warning in change.get("warnings", []):
        print(f"  warning: {warning}", file=out)


def change_names(app: Any, result: Mapping[str, Any]) -> dict[str, str]:
    """Change key -> change id for the outcomes a pass reports by key (read from the ledger)."""
    names: dict[str, str] = {}
    for report in result.get("reconcile", []):
        for key in report.get("outcomes", {}):
            record = app.ledger.get(key)
            if record is not None:
                names[key] = record.change_id
    return names


def print_result(result: Mapping[str, Any], out: TextIO, names: Mapping[str, str] | None = None) -> None:
    for change in result.get("changes", []):
        _print_change_head(change, change["outcome"], out)
        for line2 in _diff_lines(change.get("objects"), indent="    "):
            print(line2, file=out)
        for line2 in _error_lines(change):
            print(line2, file=out)
        if change.get("deadLetterId"):
            print(f"  dead letter: {change['deadLetterId']}", file=out)
    for item in result.get("ignored", []):
        print(f"ignored {item['correlationId']}: {item['reason']}", file=out)
    listed = {c.get("key") for c in result.get("changes", [])}
    for report in result.get("reconcile", []):
        line = f"pass {report['job']}: {report['action']}"
        if report.get("phase"):
            line += f" ({report['phase']} phase)"
        if report.get("jobStatus"):
            line += f", job status {report['jobStatus']}"
        print(line, file=out)
        for key, outcome in report.get("outcomes", {}).items():
            if key not in listed:
                print(f"  change {(names or {}).get(key) or key[:12]}: {outcome}", file=out)
        if report.get("error") and report["action"] not in ("submitted",):
            print(f"  {report['error'].get('code')}: {report['error'].get('message')}", file=out)


def _failed(result: Mapping[str, Any]) -> bool:
    """A change of this result, or one a pass of it handled, was dead-lettered (or would be)."""
    return any(c.get("outcome") == "dead_lettered" or c.get("rejected") for c in result.get("changes", [])) or any(
        outcome == "dead_lettered" for report in result.get("reconcile", []) for outcome in report.get("outcomes", {}).values()
    )


_DATA_KEYS = frozenset({
    "before", "after", "diff", "objects", "dbList", "outcomes", "ledger", "change", "original_event",
    "evidence", "add", "remove", "reserved",
})
"""Subtrees whose keys are data (database, table and setting names, change keys), never renamed."""


def snake_keys(value: Any) -> Any:
    """One key style for every `--json` output: the logs' and the dead letters' snake_case (the
    function's own result uses camelCase keys; names inside DbLists are left exactly as they are)."""
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _CAMEL.sub(lambda m: "_" + m.group(0).lower(), key) if isinstance(key, str) else key
        out[name] = item if key in _DATA_KEYS else snake_keys(item)
    return out


_CAMEL = re.compile(r"(?<=[a-z0-9])[A-Z]")


def _dump(data: Any, out: TextIO) -> None:
    json.dump(snake_keys(data), out, ensure_ascii=False, indent=2, default=str)
    out.write("\n")


# ---------------------------------------------------------------------- invoke, plan, reconcile


def _read_event(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"No event file {path} (looked in {Path.cwd()})",
                                 hint="Pass the path of an event or change file") from None
    except OSError as exc:
        raise ConfigurationError(f"Cannot read the event file {path}: {exc.strerror}") from None


def settle(app: Any, run: Any, passes: list[dict[str, Any]], args: argparse.Namespace, out: TextIO | None) -> None:
    """Locally, run timer passes until nothing is open (what the minute timer does in a deployment)."""
    deadline = time.monotonic() + args.settle_seconds
    wait = max(0.05, float(run.job_state().get("modifyDurationSeconds", 0.5)))
    while app.ledger.jobs_with_open_changes() and time.monotonic() < deadline:
        time.sleep(wait)
        tick = app.handle(TIMER_EVENT, fc_context(args.timeout))
        passes.append(tick)
        if out is not None:
            print("\ntimer pass:", file=out)
            print_result(tick, out, change_names(app, tick))


def cmd_invoke(args: argparse.Namespace, out: TextIO) -> int:
    event = _read_event(args.event_file)
    human = not args.json
    with deployment(args, dry_run=args.dry_run, scratch=args.dry_run) as (app, run):
        before = run.job_state() if run else None
        if human and before is not None:
            print(f"DTS job {run.job_id} ({before.get('status')}) object list before:", file=out)
            for line in _dblist_lines(before["dbList"]):
                print(line, file=out)
            print(f"\ninvoking index.handler with {args.event_file}", file=out)
        result = app.handle(event, fc_context(args.timeout))
        passes = [result]
        if human:
            (print_plan if args.dry_run else print_result)(result, out)
        if run is not None and not args.dry_run:
            settle(app, run, passes, args, out if human else None)
        failed = any(_failed(p) for p in passes)
        if run is None:
            if not human:
                _dump(result, out)
            return EXIT_FAILED if failed else EXIT_OK
        after = run.job_state()
        final = {r.key: r.state.value for r in app.ledger.all_records()} if not args.dry_run else {}
        if not human:
            _dump({"passes": passes, "before": before["dbList"] if before else None, "after": after["dbList"],
                   "ledger": final}, out)
        elif args.dry_run:
            print("\nnothing was written (plan)", file=out)
        else:
            print(f"\nobject list after ({after.get('status')}):", file=out)
            for line in _dblist_lines(after["dbList"]):
                print(line, file=out)
            mine = run.server.calls("ModifyDtsJob")
            accepted = sum(1 for c in mine if c.get("outcome") == "ok")
            print(f"\nModifyDtsJob calls: {accepted} accepted of {len(mine)} (this deployment); "
                  f"changes open: {sum(1 for v in final.values() if v in ('pending', 'removal_submitted', 'submitted'))}"
                  f", dead-lettered: {sum(1 for v in final.values() if v == 'dead_lettered')}", file=out)
        return EXIT_FAILED if failed else EXIT_OK


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    if _is_timer_event(_read_event(args.change_file)):
        raise ConfigurationError(f"{args.change_file} is a timer event: plan takes a change",
                                 hint="`dts-change reconcile --dry-run` shows what a pass would submit")
    args.dry_run = True
    args.event_file = args.change_file
    args.settle_seconds = 0
    return cmd_invoke(args, out)


def _is_timer_event(raw: bytes) -> bool:
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and "triggerTime" in data and "triggerName" in data


def cmd_reconcile(args: argparse.Namespace, out: TextIO) -> int:
    from ..core.observe import Metrics  # noqa: PLC0415

    with deployment(args, dry_run=args.dry_run) as (app, _run):
        jobs = [args.job] if args.job else app.ledger.jobs_with_open_changes()
        metrics = Metrics()
        deadline = time.monotonic() + args.timeout
        reports = [app._reconcile(job, metrics, deadline).to_dict() for job in jobs]
        result = {"changes": [], "reconcile": reports, "summary": metrics.snapshot()}
        if args.json:
            _dump(result, out)
        elif reports:
            print_result(result, out, change_names(app, result))
        else:
            print("no job has open changes", file=out)
        dead = any(o == "dead_lettered" for r in reports for o in r.get("outcomes", {}).values())
        return EXIT_FAILED if dead else EXIT_OK


# ---------------------------------------------------------------------- status, history


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    from ..core.change import JobTarget  # noqa: PLC0415
    from .cli_text import parse_duration  # noqa: PLC0415
    from .status import collect_status, render_status  # noqa: PLC0415

    max_age = parse_duration(args.max_pending_age, option="--max-pending-age")
    with deployment(args) as (app, _run):
        settings = app.settings

        def describe(target: JobTarget) -> str:
            job_id = target.dts_job_id or app.dts.resolve_job_id(target.dts_instance_id or "")
            detail = app.dts.describe_dts_job_detail(job_id, target.dts_instance_id, target.direction)
            return str(detail.status)

        default = None
        if settings.default_job_id or settings.default_instance_id:
            default = JobTarget(settings.default_job_id, settings.default_instance_id, "Forward", settings.dts_region)
            if default.dts_job_id is None:  # changes are recorded under the job id (app/record.py)
                # unresolved: shown under the instance id, where describing it reports the error
                with contextlib.suppress(DtsChangeError):
                    default = default.with_job_id(app.dts.resolve_job_id(default.dts_instance_id or ""))
        now = time.time()
        view = collect_status(app.ledger.all_records(), app.dead_letters.list(), describe, now=now,
                              max_pending_age=max_age, default_job=default, only=args.job)
    if args.json:
        _dump(view, out)
    else:
        for line in render_status(view, now=now):
            print(line, file=out)
    return EXIT_OK if view["settled"] else EXIT_FAILED


def cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    from .cli_text import parse_object, parse_when  # noqa: PLC0415
    from .history import collect_history, render_history  # noqa: PLC0415

    since = parse_when(args.since, option="--since") if args.since else None
    until = parse_when(args.until, option="--until") if args.until else None
    touching = parse_object(args.object) if args.object else None
    with deployment(args) as (app, _run):
        entries = collect_history(app.ledger.all_records(), args.job, since=since, until=until, touching=touching,
                                  letters=app.dead_letters.list(include_replayed=True))
    if args.json:
        _dump(entries, out)
    else:
        for line in render_history(entries):
            print(line, file=out)
    return EXIT_OK


# ---------------------------------------------------------------------- dead letters


def find_dead_letter(sink: Any, wanted: str) -> Any:
    """A dead letter by its id, its change key, its change id or its correlation id (the active one
    first, else the latest replayed); None when nothing matches."""
    try:
        record = sink.get(wanted)
    except DtsChangeError:
        record = None  # not shaped like an id: try the other names
    if record is not None:
        return record
    everything = sink.list(include_replayed=True)
    matches = [r for r in everything if wanted in (r.change_id, r.correlation_id, r.idempotency_key)]
    active = [r for r in matches if r.replayed_at is None]
    pool = active or matches
    return pool[-1] if pool else None


def _letter_json(record: Any) -> dict[str, Any]:
    from .cli_text import stamp  # noqa: PLC0415

    data: dict[str, Any] = record.to_dict()
    data["dead_letter_id"] = data.pop("dl_id", None)
    for name in ("first_seen", "dead_lettered_at", "replayed_at"):
        data[name] = stamp(data.get(name))
    return data


def cmd_dlq(args: argparse.Namespace, out: TextIO) -> int:
    from .cli_text import age  # noqa: PLC0415

    with deployment(args) as (app, run):
        sink = app.dead_letters
        if args.dlq_command == "list":
            records = sink.list()
            if args.json:
                _dump([_letter_json(r) for r in records], out)
            else:
                now = time.time()
                for r in records:
                    print(f"{r.dl_id}  {r.change_id}  {r.error.get('code')}: {r.error.get('message')} "
                          f"({age(now - r.dead_lettered_at)} ago)", file=out)
                if not records:
                    print("no dead letters", file=out)
            return EXIT_OK
        record = find_dead_letter(sink, args.id)
        if record is None:
            raise ConfigurationError(f"No dead letter {args.id} (by id, change key, change id or correlation id)",
                                     hint="List them with `dts-change dlq list`")
        if args.dlq_command == "show":
            _dump(_letter_json(record), out)
            return EXIT_OK
        if args.dlq_command == "dismiss":
            # For bad input corrected at its source: nothing to replay, the letter is set aside.
            sink.mark_replayed(record.dl_id)
            print(f"dismissed {record.dl_id} (kept under _replayed/)", file=out)
            return EXIT_OK
        return _replay(app, run, record, args, out)


def _replay(app: Any, run: Any, record: Any, args: argparse.Namespace, out: TextIO) -> int:
    """An explicit dead_lettered -> pending transition, then a normal pass (and, locally, the timer)."""
    from ..core.observe import Metrics  # noqa: PLC0415

    if record.replayed_at is not None:
        print(f"dead letter {record.dl_id} was replayed already", file=out)
        return EXIT_OK
    if record.change is None:
        from .failures import replay_payload  # noqa: PLC0415

        failed_event = replay_payload(record)
        if failed_event is not None:  # recorded by index.on_failure: the handler gets the event again
            result = app.handle(failed_event, fc_context(args.timeout))
            app.dead_letters.mark_replayed(record.dl_id)
            return _report_rerun(app, run, record.dl_id, result, args, out)
        return _replay_input(app, run, record, args, out)
    ledger_record = app.ledger.replay(record.key, dead_letter=record)
    app.dead_letters.mark_replayed(record.dl_id)
    report = app._reconcile(ledger_record.job_key, Metrics(), time.monotonic() + args.timeout).to_dict()
    passes: list[dict[str, Any]] = [{"changes": [], "reconcile": [report]}]
    human = not args.json
    if human:
        print(f"replayed {record.dl_id} (change {record.change_id}): back to pending", file=out)
        print_result(passes[0], out, change_names(app, passes[0]))
    if run is not None:
        settle(app, run, passes, args, out if human else None)
    final = app.ledger.get(record.key)
    state = final.state.value if final is not None else "unknown"
    if args.json:
        _dump({"replayed": record.dl_id, "change_key": record.key, "state": state, "passes": passes}, out)
    else:
        print(f"change {record.change_id}: {state}", file=out)
    return EXIT_FAILED if state == "dead_lettered" else EXIT_OK


# ---------------------------------------------------------------------- local, emulator


def cmd_local(args: argparse.Namespace, out: TextIO) -> int:
    from .local_deploy import LocalDeployment  # noqa: PLC0415

    faults = [_fail_next(spec) for spec in args.fail_next or []]
    local = LocalDeployment(args.state_dir)
    state = local.reset(Path(args.state) if args.state else None, faults=faults)
    jobs = ", ".join(state["jobs"])
    print(f"local deployment {local.state_dir} reset: job {jobs}, empty ledger, no dead letters", file=out)
    for fault in faults:
        print(f"  the next {fault['count']} {fault['action']} call(s) will fail with {fault['code']}", file=out)
    return EXIT_OK


def _fail_next(spec: str) -> dict[str, Any]:
    """`ModifyDtsJob:InvalidParameter[:COUNT]` -> an emulator fault answering that error to the
    next COUNT such calls (default 1): a rehearsal of a failure."""
    action, _, rest = spec.partition(":")
    code, _, count = rest.partition(":")
    if not action.strip() or not code.strip() or (count and not count.isdigit()):
        raise ConfigurationError(
            f"Invalid --fail-next {spec}: expected ACTION:CODE or ACTION:CODE:COUNT, e.g. ModifyDtsJob:InvalidParameter"
        )
    return {"action": action.strip(), "service": "dts", "code": code.strip(), "httpStatus": 400,
            "count": int(count or 1)}


def _replay_input(app: Any, run: Any, record: Any, args: argparse.Namespace, out: TextIO) -> int:
    """Bad input (no parsed change): its kept bytes (or its OSS object) go through the handler
    again; the dead letter is moved aside once that ran (a new failure is a new dead letter)."""
    from ..intake.replay import replay_envelopes  # noqa: PLC0415

    dl_id = record.dl_id or args.id
    again = replay_envelopes(record.original_event, dl_id=dl_id, correlation_id=record.correlation_id)
    context = SimpleNamespace(request_id=f"replay-{record.key[:16]}", function=None)
    if isinstance(again, bytes):
        result = app.handle(again, context)
    else:
        result = app.handle(b"", context, envelopes=again)
    app.dead_letters.mark_replayed(dl_id)
    return _report_rerun(app, run, dl_id, result, args, out)


def _report_rerun(app: Any, run: Any, dl_id: str, result: dict[str, Any], args: argparse.Namespace,
                  out: TextIO) -> int:
    """Print what running a dead letter's input again did (and, locally, the timer passes after)."""
    passes = [result]
    human = not args.json
    if human:
        print(f"replayed {dl_id} (its input, sent through the handler again)", file=out)
        print_result(result, out, change_names(app, result))
    if run is not None:
        settle(app, run, passes, args, out if human else None)
    if not human:
        _dump({"replayed": dl_id, **result, "timer_passes": passes[1:]}, out)
    return EXIT_FAILED if any(_failed(p) for p in passes) else EXIT_OK


def cmd_emulator(args: argparse.Namespace, out: TextIO) -> int:
    from ..emulator.__main__ import main as emulator_main  # noqa: PLC0415

    argv = ["--host", args.host, "--port", str(args.port)]
    if args.state:
        argv += ["--state", args.state]
    return int(emulator_main(argv) or 0)


# ---------------------------------------------------------------------- parser, main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dts-change", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, dry_run: bool = False, settle_time: bool = False) -> None:
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--timeout", type=float, default=60.0, help="function timeout to emulate (s)")
        p.add_argument("--local", action="store_true", help="use the persistent local deployment")
        p.add_argument("--state-dir", default=None,
                       help="folder of the local deployment (default .dts-change/local under the current directory)")
        p.add_argument("--state", default=None, help="seed for a new local deployment (default: the sample job)")
        if dry_run:
            p.add_argument("--dry-run", action="store_true", help="compute and report, write nothing")
        if settle_time:
            p.add_argument("--settle-seconds", type=float, default=30.0,
                           help="max time for timer passes after the event (--local)")

    p_invoke = sub.add_parser("invoke", help="run the handler on an event file")
    p_invoke.add_argument("event_file")
    common(p_invoke, dry_run=True, settle_time=True)
    p_invoke.set_defaults(func=cmd_invoke)

    p_plan = sub.add_parser("plan", help="what a change file would do to its job; writes nothing")
    p_plan.add_argument("change_file")
    common(p_plan)
    p_plan.set_defaults(func=cmd_plan)

    p_rec = sub.add_parser("reconcile", help="run a reconcile pass for one job or every job with open work")
    p_rec.add_argument("--job", help="job key <jobId>/<direction>")
    common(p_rec, dry_run=True)
    p_rec.set_defaults(func=cmd_reconcile)

    p_status = sub.add_parser("status", help="per job: DTS status, open changes, last modification, dead letters")
    p_status.add_argument("job", nargs="?", help="a job id or <jobId>/<direction> (default: every job)")
    p_status.add_argument("--max-pending-age", default="15m",
                          help="a change open longer than this makes the exit status 1 (default 15m)")
    common(p_status)
    p_status.set_defaults(func=cmd_status)

    p_hist = sub.add_parser("history", help="audit trail of a job's changes from the ledger, newest first")
    p_hist.add_argument("job", help="a job id or <jobId>/<direction>")
    p_hist.add_argument("--since", help="ISO 8601 time or a duration ago (2h)")
    p_hist.add_argument("--until", help="ISO 8601 time or a duration ago")
    p_hist.add_argument("--object", help="only changes that touched this object (shop.orders)")
    common(p_hist)
    p_hist.set_defaults(func=cmd_history)

    p_dlq = sub.add_parser("dlq", help="dead letters: list, show, replay")
    dlq_sub = p_dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list", help="dead letters waiting, oldest first")
    common(dlq_list)
    for name, text in (("show", "one dead letter"), ("replay", "move a dead letter's change back to pending"),
                       ("dismiss", "set a dead letter aside without replaying it (bad input corrected at its source)")):
        p = dlq_sub.add_parser(name, help=text)
        p.add_argument("id", help="dead-letter id, change key, change id or correlation id")
        common(p, settle_time=name == "replay")
    p_dlq.set_defaults(func=cmd_dlq)

    p_local = sub.add_parser("local", help="the persistent local deployment used by --local")
    local_sub = p_local.add_subparsers(dest="local_command", required=True)
    p_reset = local_sub.add_parser("reset", help="start over from the sample job (or --state FILE)")
    p_reset.add_argument("--state-dir", default=None, help="folder of the local deployment")
    p_reset.add_argument("--state", default=None, help="seed state file (default: the sample job)")
    p_reset.add_argument("--fail-next", action="append", metavar="ACTION:CODE[:COUNT]",
                         help="rehearse a failure: the next such DTS call answers this error (repeatable)")
    p_local.set_defaults(func=cmd_local)

    p_emu = sub.add_parser("emulator", help="serve the local DTS + OSS emulator until interrupted")
    p_emu.add_argument("--host", default="127.0.0.1")
    p_emu.add_argument("--port", type=int, default=0)
    p_emu.add_argument("--state", help="seed state JSON file")
    p_emu.set_defaults(func=cmd_emulator)
    return parser


class PipeSafe:
    """stdout that survives `| head`: once the reader is gone, output is dropped and the command
    still finishes (a replay is not cut in half) and returns its own exit status."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self.closed_pipe = True
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self.closed_pipe = True


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = PipeSafe(sys.stdout)
    try:
        code = int(args.func(args, cast(TextIO, out)))
    except (ConfigurationError, ReplayRefusedError) as exc:  # asked for what cannot be done: usage
        code = _report(exc, EXIT_USAGE)
    except DtsChangeError as exc:
        code = _report(exc, EXIT_FAILED)
    except KeyboardInterrupt:
        code = 130
    out.flush()
    if out.closed_pipe:
        # Python flushes stdout again at exit; point it at /dev/null so that raises nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return code


def _report(exc: DtsChangeError, code: int) -> int:
    print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

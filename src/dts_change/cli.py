"""The `dts-change` command: invoke the real handler locally, plan, reconcile, dead letters, emulator.

Examples:
    dts-change invoke events/oss-object-created.json --local   # the demo (make run)
    dts-change plan events/changes/add-tables.json --local      # dry-run diff, writes nothing
    dts-change dlq list                                         # dead letters of the configured sink
    dts-change emulator --port 0                                # local DTS + OSS on 127.0.0.1

Exit status: 0 when everything was applied, submitted or pending; 1 when anything was
dead-lettered or failed; 2 for usage or configuration errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

from .errors import DtsChangeError

DEFAULT_LOCAL_STATE = Path("events/local/state.json")
TIMER_EVENT = json.dumps(
    {"triggerTime": "1970-01-01T00:00:00Z", "triggerName": "dts-change-cli", "payload": '{"action":"reconcile"}'}
)


def fc_context(timeout: float = 60.0, request_id: str | None = None) -> Any:
    """An FC-like context: request id and function timeout (no credentials: they come from env)."""
    return SimpleNamespace(
        request_id=request_id or f"cli-{uuid.uuid4().hex[:12]}",
        function=SimpleNamespace(name="dts-change-cli", handler="index.handler", memory=512, timeout=timeout),
        region=None,
        account_id=None,
    )


# ---------------------------------------------------------------------- local environment


@dataclass
class LocalRun:
    env: dict[str, str]
    server: Any
    job_id: str
    state_dir: Path

    def job_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.server.get_state()
        job: dict[str, Any] = state["jobs"][self.job_id]
        return job


@contextlib.contextmanager
def local_environment(state_file: Path, state_dir: Path | None = None) -> Iterator[LocalRun]:
    """Start the emulator in-process, seeded from `state_file`, with a local ledger and dead letters."""
    from .emulator import EmulatorServer  # noqa: PLC0415 - only the local mode needs the emulator

    state = json.loads(state_file.read_text(encoding="utf-8"))
    server = EmulatorServer(host="127.0.0.1", port=0, state=state)
    server.start()
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="dts-change-")
        state_dir = Path(tmp.name)
    try:
        key_id, cred = next(iter(state["credentials"].items()))
        job_id, job = next(iter(state["jobs"].items()))
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ALIBABA_CLOUD_", "DTS_", "OSS_", "FC_"))
        }
        env.update(
            {
                "DTS_REGION": state.get("region", "cn-hangzhou"),
                "DTS_ENDPOINT": server.endpoint,
                "OSS_ENDPOINT": server.endpoint,
                "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cred["secret"],
                "DTS_JOB_ID": job_id,
                "DTS_INSTANCE_ID": job.get("instanceId", ""),
                "DTS_CHANGE_LEDGER": (state_dir / "ledger").resolve().as_uri(),
                "DTS_CHANGE_DEAD_LETTER": (state_dir / "dead-letter").resolve().as_uri(),
                "DTS_CHANGE_ALLOWED_BUCKETS": ",".join(state.get("buckets", {})),
                "DTS_CHANGE_LOG_LEVEL": os.environ.get("DTS_CHANGE_LOG_LEVEL", "WARNING"),
            }
        )
        if cred.get("securityToken"):
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = cred["securityToken"]
        yield LocalRun(env=env, server=server, job_id=job_id, state_dir=state_dir)
    finally:
        server.stop()
        if tmp is not None:
            tmp.cleanup()


def build_app(env: Mapping[str, str] | None, *, dry_run: bool = False, log_stream: TextIO | None = None) -> Any:
    from .config import Settings  # noqa: PLC0415
    from .handler import App  # noqa: PLC0415
    from .observe import configure_logging  # noqa: PLC0415

    merged = dict(os.environ if env is None else env)
    if dry_run:
        merged["DTS_CHANGE_DRY_RUN"] = "true"
    settings = Settings.from_env(merged)
    configure_logging(settings.log_level, stream=log_stream or sys.stderr)
    return App(settings)


# ---------------------------------------------------------------------- human output


def _dblist_lines(db_list: Mapping[str, Any], indent: str = "  ") -> list[str]:
    lines = []
    for db, entry in db_list.items():
        name = entry.get("name", db)
        rename = f" -> {name}" if name != db else ""
        if entry.get("all", True) is not False:
            lines.append(f"{indent}{db}{rename} (whole database)")
            continue
        tables = entry.get("Table") or {}
        shown = ", ".join(
            t + (f"->{e.get('name')}" if isinstance(e, dict) and e.get("name") not in (None, t) else "")
            for t, e in tables.items()
        )
        lines.append(f"{indent}{db}{rename}: {shown}")
    return lines or [f"{indent}(empty)"]


def _diff_lines(diff: Mapping[str, Any] | None) -> list[str]:
    if not diff:
        return []
    out = [f"  + {ref}" for ref in diff.get("added", [])]
    out += [f"  - {ref}" for ref in diff.get("removed", [])]
    out += [f"  ~ {ref}" for ref in diff.get("changed", [])]
    out += [f"  ! {w}" for w in diff.get("warnings", [])]
    return out


def print_result(result: Mapping[str, Any], out: TextIO) -> None:
    for change in result.get("changes", []):
        line = f"change {change['id']}: {change['outcome']}"
        if change.get("job"):
            line += f" (job {change['job']})"
        if change.get("diff"):
            d = change["diff"]
            line += f" [+{d.get('added', 0)} -{d.get('removed', 0)} ~{d.get('changed', 0)}]"
        print(line, file=out)
        for warning in change.get("warnings", []):
            print(f"  warning: {warning}", file=out)
        if change.get("code"):
            print(f"  {change['code']}: {change.get('message', '')}", file=out)
            if change.get("hint"):
                print(f"  hint: {change['hint']}", file=out)
        plan = change.get("plan")
        if plan:
            print(f"  plan: {plan.get('status')}, phases {plan.get('phases')}", file=out)
            for line2 in _diff_lines(plan.get("diff")):
                print(line2, file=out)
    for item in result.get("ignored", []):
        print(f"ignored {item['correlationId']}: {item['reason']}", file=out)
    for report in result.get("reconcile", []):
        line = f"pass {report['job']}: {report['action']}"
        if report.get("phase"):
            line += f" ({report['phase']} phase)"
        if report.get("jobStatus"):
            line += f", job status {report['jobStatus']}"
        print(line, file=out)
        if report.get("action") in ("submitted", "dry-run"):
            for line2 in _diff_lines(report.get("diff")):
                print(line2, file=out)
        listed = {c.get("key") for c in result.get("changes", [])}
        for key, outcome in report.get("outcomes", {}).items():
            if key not in listed:
                print(f"  change {key[:12]}: {outcome}", file=out)
        if report.get("error") and report["action"] not in ("submitted",):
            print(f"  {report['error'].get('code')}: {report['error'].get('message')}", file=out)


def _failed(result: Mapping[str, Any]) -> bool:
    return any(c.get("outcome") == "dead_lettered" for c in result.get("changes", []))


# ---------------------------------------------------------------------- commands


def cmd_invoke(args: argparse.Namespace, out: TextIO) -> int:
    event = Path(args.event_file).read_bytes()
    if not args.local:
        app = build_app(None, dry_run=args.dry_run)
        result = app.handle(event, fc_context(args.timeout))
        _emit(result, args, out)
        return 1 if _failed(result) else 0
    with local_environment(Path(args.state), Path(args.state_dir) if args.state_dir else None) as run:
        app = build_app(run.env, dry_run=args.dry_run)
        before = run.job_state()
        human = not args.json
        if human:
            print(f"DTS job {run.job_id} ({before.get('status')}) object list before:", file=out)
            for line in _dblist_lines(before["dbList"]):
                print(line, file=out)
            print(f"\ninvoking index.handler with {args.event_file}", file=out)
        result = app.handle(event, fc_context(args.timeout))
        passes = [result]
        if human:
            print_result(result, out)
        deadline = time.monotonic() + args.settle_seconds
        wait = max(0.05, float(before.get("modifyDurationSeconds", 0.5)))
        while not args.dry_run and app.ledger.jobs_with_open_changes() and time.monotonic() < deadline:
            time.sleep(wait)
            tick = app.handle(TIMER_EVENT, fc_context(args.timeout))
            passes.append(tick)
            if human:
                print("\ntimer pass:", file=out)
                print_result(tick, out)
        after = run.job_state()
        final = {
            key: record.state.value
            for key, record in ((r.key, r) for r in app.ledger.all_records())
        }
        if args.json:
            json.dump({"passes": passes, "before": before["dbList"], "after": after["dbList"], "ledger": final},
                      out, ensure_ascii=False, indent=2)
            out.write("\n")
        else:
            print(f"\nobject list after ({after.get('status')}):", file=out)
            for line in _dblist_lines(after["dbList"]):
                print(line, file=out)
            modifies = [c for c in run.server.get_state().get("calls", []) if c.get("action") == "ModifyDtsJob"]
            accepted = sum(1 for c in modifies if c.get("outcome") == "ok")
            print(f"\nModifyDtsJob calls: {accepted} accepted of {len(modifies)}; "
                  f"changes: {', '.join(f'{k[:12]}={v}' for k, v in final.items()) or 'none'}", file=out)
        failed = any(_failed(p) for p in passes) or any(v == "dead_lettered" for v in final.values())
        return 1 if failed else 0


def _emit(result: Mapping[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        json.dump(result, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        print_result(result, out)


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    args.dry_run = True
    args.event_file = args.change_file
    args.settle_seconds = 0
    return cmd_invoke(args, out)


def cmd_reconcile(args: argparse.Namespace, out: TextIO) -> int:
    def run_app(app: Any) -> int:
        from .handler import App  # noqa: PLC0415

        assert isinstance(app, App)
        jobs = [args.job] if args.job else app.ledger.jobs_with_open_changes()
        from .observe import Metrics  # noqa: PLC0415

        metrics = Metrics()
        deadline = time.monotonic() + args.timeout
        reports = [app._reconcile(job, metrics, deadline).to_dict() for job in jobs]
        result = {"reconcile": reports, "summary": metrics.snapshot()}
        _emit(result, args, out)
        if not reports and not args.json:
            print("no job has open changes", file=out)
        return 0

    if args.local:
        with local_environment(Path(args.state)) as run:
            return run_app(build_app(run.env, dry_run=args.dry_run))
    return run_app(build_app(None, dry_run=args.dry_run))


def cmd_dlq(args: argparse.Namespace, out: TextIO) -> int:
    app = build_app(None)
    sink = app.dead_letters
    if args.dlq_command == "list":
        records = sink.list()
        if args.json:
            json.dump([r.to_dict() if hasattr(r, "to_dict") else r.__dict__ for r in records], out, indent=2, default=str)
            out.write("\n")
        else:
            for r in records:
                print(f"{r.key}  {r.job_key}  {r.error.get('code')}: {r.error.get('message')}", file=out)
            if not records:
                print("no dead letters", file=out)
        return 0
    record = sink.get(args.id)
    if record is None:
        print(f"no dead letter {args.id!r}", file=sys.stderr)
        return 2
    if args.dlq_command == "show":
        json.dump(record.to_dict() if hasattr(record, "to_dict") else record.__dict__, out, indent=2, default=str)
        out.write("\n")
        return 0
    # replay: an explicit dead_lettered -> pending transition, then a normal pass.
    from .failures import replay_payload  # noqa: PLC0415

    failed_event = replay_payload(record) if record.change is None else None
    if failed_event is not None:  # recorded by index.on_failure: the handler gets the event again
        result = app.handle(failed_event, fc_context(args.timeout))
        sink.mark_replayed(args.id)
        _emit({"replayed": record.key, **result}, args, out)
        return 1 if _failed(result) else 0
    if record.change is None:
        return _replay_input(app, record, args, out)
    ledger_record = app.ledger.replay(record.key)
    sink.mark_replayed(args.id)
    from .observe import Metrics  # noqa: PLC0415

    report = app._reconcile(ledger_record.job_key, Metrics(), time.monotonic() + 60)
    _emit({"replayed": record.key, "reconcile": [report.to_dict()]}, args, out)
    return 0


def _replay_input(app: Any, record: Any, args: argparse.Namespace, out: TextIO) -> int:
    """Bad input (no parsed change): its kept bytes (or its OSS object) go through the handler
    again; the dead letter is moved aside once that ran (a new failure is a new dead letter)."""
    from .input_replay import replay_envelopes  # noqa: PLC0415

    dl_id = record.dl_id or args.id
    again = replay_envelopes(record.original_event, dl_id=dl_id, correlation_id=record.correlation_id)
    context = SimpleNamespace(request_id=f"replay-{record.key[:16]}", function=None)
    if isinstance(again, bytes):
        result = app.handle(again, context)
    else:
        result = app.handle(b"", context, envelopes=again)
    app.dead_letters.mark_replayed(dl_id)
    _emit({"replayed": record.key, **result}, args, out)
    return 1 if any(c.get("outcome") == "dead_lettered" for c in result.get("changes", [])) else 0


def cmd_emulator(args: argparse.Namespace, out: TextIO) -> int:
    from .emulator.__main__ import main as emulator_main  # noqa: PLC0415

    argv = ["--host", args.host, "--port", str(args.port)]
    if args.state:
        argv += ["--state", args.state]
    return int(emulator_main(argv) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dts-change", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, local: bool = True) -> None:
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--timeout", type=float, default=60.0, help="function timeout to emulate (s)")
        if local:
            p.add_argument("--local", action="store_true", help="run against the in-process emulator")
            p.add_argument("--state", default=str(DEFAULT_LOCAL_STATE), help="emulator seed for --local")
            p.add_argument("--dry-run", action="store_true", help="compute and report, write nothing")

    p_invoke = sub.add_parser("invoke", help="run the handler on an event file")
    p_invoke.add_argument("event_file")
    p_invoke.add_argument("--state-dir", help="keep the local ledger and dead letters here (--local)")
    p_invoke.add_argument("--settle-seconds", type=float, default=30.0, help="max time for timer passes (--local)")
    common(p_invoke)
    p_invoke.set_defaults(func=cmd_invoke)

    p_plan = sub.add_parser("plan", help="dry-run diff of a change file against its job")
    p_plan.add_argument("change_file")
    common(p_plan)
    p_plan.set_defaults(func=cmd_plan, state_dir=None)

    p_rec = sub.add_parser("reconcile", help="run a reconcile pass for one job or every job with open work")
    p_rec.add_argument("--job", help="job key <jobId>/<direction>")
    common(p_rec)
    p_rec.set_defaults(func=cmd_reconcile)

    p_dlq = sub.add_parser("dlq", help="dead letters: list, show, replay")
    dlq_sub = p_dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list")
    common(dlq_list, local=False)
    for name in ("show", "replay"):
        p = dlq_sub.add_parser(name)
        p.add_argument("id")
        common(p, local=False)
    p_dlq.set_defaults(func=cmd_dlq)

    p_emu = sub.add_parser("emulator", help="serve the local DTS + OSS emulator until interrupted")
    p_emu.add_argument("--host", default="127.0.0.1")
    p_emu.add_argument("--port", type=int, default=0)
    p_emu.add_argument("--state", help="seed state JSON file")
    p_emu.set_defaults(func=cmd_emulator)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, sys.stdout))
    except DtsChangeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

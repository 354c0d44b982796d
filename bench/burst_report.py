"""Presentation of the burst benchmark: the console report, the SVG chart and the doc section.

Hand-written SVG (no plotting dependency): cumulative changes applied over time for both
handlers, the baseline's measured part solid and its extrapolation to N dashed.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.burst import BurstConfig, BurstResult, HandlerRun

SECTION_HEADING = "## Burst: 1,000 changes"


# ---------------------------------------------------------------------- numbers


def per_event(value: float, events: int) -> float:
    return value / events if events else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def comparison(cfg: BurstConfig, ours: HandlerRun, naive: HandlerRun | None) -> dict[str, float]:
    """The baseline's per-event cost over ours, and its extrapolation to N."""
    if naive is None or naive.events == 0:
        return {}
    scale = cfg.events / naive.events
    return {
        "accepted_ratio": ratio(
            per_event(naive.modify_accepted, naive.events), per_event(ours.modify_accepted, ours.events)
        ),
        "attempted_ratio": ratio(
            per_event(naive.modify_attempted, naive.events), per_event(ours.modify_attempted, ours.events)
        ),
        "time_ratio": ratio(per_event(naive.wall_seconds, naive.events), per_event(ours.wall_seconds, ours.events)),
        "extrapolated_accepted": naive.modify_accepted * scale,
        "extrapolated_attempted": naive.modify_attempted * scale,
        "extrapolated_seconds": naive.wall_seconds * scale,
    }


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _column(run: HandlerRun) -> list[str]:
    """One handler's values, in the order of ROW_NAMES."""
    return [
        str(run.events),
        str(run.workers),
        str(run.modify_accepted),
        str(run.modify_attempted),
        _fmt(per_event(run.modify_accepted, run.events), 4),
        str(run.describes),
        _fmt(run.wall_seconds),
        _fmt(run.in_list_seconds),
        _fmt(run.intake_seconds),
        _fmt(per_event(run.wall_seconds, run.events) * 1000, 1),
        f"{run.applied}/{run.events}",
        str(len(run.lost)),
        str(run.dead_lettered),
        str(run.timer_passes),
    ]


ROW_NAMES = [
    "change events",
    "handler processes",
    "ModifyDtsJob accepted",
    "ModifyDtsJob attempted",
    "accepted per event",
    "DescribeDtsJobDetail calls",
    "wall time until all applied (s)",
    "  all in the job's DbList (s)",
    "  last event handled (s)",
    "wall time per event (ms)",
    "changes applied",
    "objects lost",
    "changes dead-lettered / given up",
    "timer passes",
]


def result_table(cfg: BurstConfig, result: BurstResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows: ours, [ours with the ledger on disk], [baseline, baseline x N/B]."""
    columns = [("ours", _column(result.ours))]
    if result.ours_on_disk is not None:
        columns.append(("ours, ledger on disk", _column(result.ours_on_disk)))
    if result.naive is not None:
        naive = result.naive
        cmp = comparison(cfg, result.ours, naive)
        extrapolated = [""] * len(ROW_NAMES)
        extrapolated[0] = str(cfg.events)
        extrapolated[2] = _fmt(cmp["extrapolated_accepted"], 0)
        extrapolated[3] = _fmt(cmp["extrapolated_attempted"], 0)
        extrapolated[6] = _fmt(cmp["extrapolated_seconds"], 1)
        columns.append(("baseline", _column(naive)))
        columns.append(("baseline x N/B", extrapolated))
    header = ["", *(name for name, _ in columns)]
    rows = [[name, *(values[i] for _, values in columns)] for i, name in enumerate(ROW_NAMES)]
    return header, rows


def machine_facts() -> str:
    cores = os.cpu_count() or 0
    return f"{cores} cores, Python {platform.python_version()}, {platform.system()} {platform.machine()}"


def render_report(cfg: BurstConfig, result: BurstResult, runtime: float) -> str:
    ours, naive = result.ours, result.naive
    lines = [
        f"== burst: {cfg.events} changes from {cfg.workers} processes, T = {cfg.modify_seconds} s, "
        f"timer every {cfg.interval} s ({machine_facts()}) ==",
        f"ledger directory: {cfg.store}" + (f"; information run: {result.disk_store}" if result.disk_store else ""),
    ]
    header, rows = result_table(cfg, result)
    first = max(len(r[0]) for r in rows)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)][1:]
    lines.append("  ".join([f"{'':{first}}", *(f"{h:>{w}}" for h, w in zip(header[1:], widths, strict=True))]))
    lines.extend("  ".join([f"{r[0]:{first}}", *(f"{v:>{w}}" for v, w in zip(r[1:], widths, strict=True))]) for r in rows)
    lines.append(
        f"ours, invocation outcomes: {ours.outcomes}; their passes: {ours.actions}; "
        f"handler CPU {ours.worker_cpu_seconds:.2f} s"
    )
    lines.append(f"ours, timer passes: {'; '.join(ours.timer_log)}")
    if naive is not None:
        lines.append(f"baseline, event outcomes: {naive.outcomes}")
    for run in (ours, result.ours_on_disk, naive):
        if run is not None and run.lost:
            lines.append(f"{run.name} lost: {', '.join(run.lost[:10])}")
    lines.append("targets (ours):")
    lines.extend(f"  {'PASS' if v.ok else 'FAIL'}  {v.name}: {v.value} (target {v.target})" for v in result.checks)
    cmp = comparison(cfg, ours, naive)
    if cmp:
        lines.append(
            "ratios, baseline per event / ours per event: "
            f"accepted ModifyDtsJob {_fmt(cmp['accepted_ratio'], 1)}x, "
            f"attempted {_fmt(cmp['attempted_ratio'], 1)}x, wall time {_fmt(cmp['time_ratio'], 1)}x"
        )
    lines.append(f"benchmark runtime: {runtime:.1f} s")
    return "\n".join(lines)


# ---------------------------------------------------------------------- SVG


def _ticks(limit: float, count: int = 6) -> list[float]:
    if limit <= 0:
        return [0.0]
    raw = limit / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(limit / step - 1e-9) + 1)]  # the last tick >= limit


def _steps(times: Sequence[float]) -> list[tuple[float, float]]:
    """A cumulative step curve: (time, changes applied by then), one corner per distinct time."""
    points = [(0.0, 0.0)]
    for done, t in enumerate(sorted(times)):
        if points[-1][0] != t:
            points.append((t, float(done)))
        points.append((t, float(done + 1)))
    return points


class _Panel:
    """One plot area: data (seconds, changes) to pixels, grid, axes labels, curves."""

    def __init__(self, box: tuple[float, float, float, float], x_max: float, y_max: float) -> None:
        self.left, self.top, self.width, self.height = box
        self.x_max, self.y_max = x_max, y_max

    def x(self, t: float) -> float:
        return self.left + self.width * min(max(t, 0.0), self.x_max) / self.x_max

    def y(self, v: float) -> float:
        return self.top + self.height * (1 - min(v, self.y_max) / self.y_max)

    def points(self, curve: Sequence[tuple[float, float]]) -> str:
        """A step curve cut at the panel's right edge (the value reached by then, held to the edge)."""
        kept = [(t, v) for t, v in curve if t <= self.x_max]
        if len(kept) < len(curve) and kept:
            kept.append((self.x_max, kept[-1][1]))
        return " ".join(f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in kept)

    def frame(self, x_ticks: Sequence[float], y_ticks: Sequence[float], *, font: int = 12) -> list[str]:
        bottom = self.top + self.height
        out = [f'<rect x="{self.left}" y="{self.top}" width="{self.width}" height="{self.height}" fill="white"/>']
        for t in x_ticks:
            out.append(f'<line x1="{self.x(t):.1f}" y1="{self.top}" x2="{self.x(t):.1f}" y2="{bottom}" stroke="#eee"/>')
            out.append(
                f'<text x="{self.x(t):.1f}" y="{bottom + font + 4}" text-anchor="middle" font-size="{font}">{t:g}</text>'
            )
        for v in y_ticks:
            right = self.left + self.width
            out.append(f'<line x1="{self.left}" y1="{self.y(v):.1f}" x2="{right}" y2="{self.y(v):.1f}" stroke="#eee"/>')
            out.append(
                f'<text x="{self.left - 6}" y="{self.y(v) + 4:.1f}" text-anchor="end" font-size="{font}">{v:g}</text>'
            )
        out.append(
            f'<rect x="{self.left}" y="{self.top}" width="{self.width}" height="{self.height}" fill="none" stroke="#333"/>'
        )
        return out

    def curves(self, cfg: BurstConfig, ours: HandlerRun, naive: HandlerRun | None, extrapolated_end: float) -> list[str]:
        out = []
        target = cfg.wall_target
        if target <= self.x_max:
            out.append(
                f'<line x1="{self.x(target):.1f}" y1="{self.top}" x2="{self.x(target):.1f}" '
                f'y2="{self.top + self.height}" stroke="#2a7" stroke-dasharray="2,3"/>'
            )
        if naive is not None and naive.timeline:
            out.append(f'<polyline fill="none" stroke="#c33" stroke-width="2" points="{self.points(_steps(naive.timeline))}"/>')
            last = (naive.timeline[-1], float(len(naive.timeline)))
            slope = (self.y_max - last[1]) / max(extrapolated_end - last[0], 1e-9)
            cut = min(extrapolated_end, self.x_max)
            end = (cut, last[1] + slope * (cut - last[0]))
            if cut > last[0]:
                out.append(
                    f'<polyline fill="none" stroke="#c33" stroke-width="2" stroke-dasharray="6,5" '
                    f'points="{self.points([last, end])}"/>'
                )
        if ours.timeline:
            out.append(f'<polyline fill="none" stroke="#16c" stroke-width="2.5" points="{self.points(_steps(ours.timeline))}"/>')
        return out


def render_svg(cfg: BurstConfig, ours: HandlerRun, naive: HandlerRun | None) -> str:
    """The whole run on a linear time axis, and an inset with the first seconds (where ours ends)."""
    width, height = 860, 440
    cmp = comparison(cfg, ours, naive)
    extrapolated_end = cmp.get("extrapolated_seconds", 0.0)
    ends = [cfg.wall_target, 1.0, *(t for t in ours.timeline if math.isfinite(t))]
    if naive is not None:
        ends.extend(t for t in naive.timeline if math.isfinite(t))
        ends.append(extrapolated_end)
    xt = _ticks(max(e for e in ends if math.isfinite(e)))
    main = _Panel((70, 50, width - 100, height - 110), xt[-1] if xt[-1] > 0 else 1.0, float(cfg.events))
    title = f"Changes applied over time: {cfg.events} events, T = {cfg.modify_seconds} s per modification"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>',
        *main.frame(xt, _ticks(main.y_max, 5)),
        *main.curves(cfg, ours, naive, extrapolated_end),
        f'<text x="{main.left + main.width / 2}" y="{height - 14}" text-anchor="middle">'
        "seconds since the burst started</text>",
        f'<text x="18" y="{main.top + main.height / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {main.top + main.height / 2})">changes applied</text>',
    ]
    # Inset: the first seconds, where ours finishes; placed in the empty upper-left corner.
    zoom = max(cfg.wall_target, *(t for t in ours.timeline if math.isfinite(t))) * 1.15 if ours.timeline else cfg.wall_target
    zt = _ticks(zoom, 4)
    inset = _Panel((main.left + 55, main.top + 22, 250, 130), zt[-1], float(cfg.events))
    parts.extend(inset.frame(zt, _ticks(inset.y_max, 2), font=10))
    parts.extend(inset.curves(cfg, ours, naive, extrapolated_end))
    parts.append(
        f'<text x="{inset.left + inset.width / 2}" y="{inset.top - 6}" text-anchor="middle" font-size="11">'
        f"first {zt[-1]:g} s (dotted green: target for ours, {cfg.wall_target:g} s)</text>"
    )
    legend = [
        ("#16c", "", f"ours: {ours.applied} confirmed applied, {ours.modify_accepted} ModifyDtsJob accepted, "
                     f"{_fmt(ours.wall_seconds)} s"),
    ]
    if naive is not None:
        legend.append(("#c33", "", f"naive baseline: {naive.applied} in the DbList, {naive.modify_accepted} accepted, "
                                  f"{_fmt(naive.wall_seconds, 1)} s"))
        legend.append(("#c33", "6,5", f"naive baseline extrapolated to {cfg.events}: "
                                     f"{_fmt(extrapolated_end, 0)} s"))
    for i, (color, dash, label) in enumerate(legend):
        ly = main.top + main.height - 70 + 20 * i
        lx = main.left + main.width - 430
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{lx}" y1="{ly}" x2="{lx + 30}" y2="{ly}" stroke="{color}" stroke-width="2.5"{dash_attr}/>'
            f'<text x="{lx + 38}" y="{ly + 4}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------- docs/performance.md


def render_section(cfg: BurstConfig, result: BurstResult, runtime: float, *, command: str, svg_name: str) -> str:
    ours, naive = result.ours, result.naive
    cmp = comparison(cfg, ours, naive)
    header, rows = result_table(cfg, result)
    lines = [
        SECTION_HEADING,
        "",
        f"Command: `{command}` (also run by `make bench`). Machine: {machine_facts()}, shared with other "
        f"work while it ran; the whole benchmark took {runtime:.0f} s.",
        "",
        f"Parameters: N = {cfg.events} change events, each adding a distinct table to one job; "
        f"T = {cfg.modify_seconds} s per modification (emulator `modifyDurationSeconds`, the emulator running as its "
        f"own process); {cfg.workers} handler processes, each an `App` (a warm FC instance) running "
        "`App.handle` on an interleaved share of the events, all released together and sharing one ledger "
        f"directory; a timer pass every {cfg.interval} s from the main process until nothing is open. "
        f"Ledger directory: {cfg.store.split(',')[0]} (the directory store fsyncs every write; in FC the ledger "
        "is OSS, so a local disk's fsync latency is not what this measures; the *ledger on disk* column is "
        "the same burst with the ledger in the system's temporary folder, for information). "
        f"Baseline (`bench/naive_handler.py`: per event describe, merge with the project's merge engine, "
        f"ModifyDtsJob; while the job is busy, or when the write is refused with "
        f"`OperationDenied.JobStatusModifying`, wait {cfg.poll_seconds} s with jitter and start over from the "
        f"describe): the first {naive.events if naive else 0} events from {cfg.baseline_workers} processes "
        "against a fresh emulator, extrapolated to N.",
        "",
        "How it is measured: ModifyDtsJob calls come from the emulator's call log (*accepted* started a "
        "modification; *attempted* also counts refused ones). *Wall time until all applied* runs from the "
        "release of the workers to the last change confirmed applied in the ledger (ours) or the end of the "
        "last accepted modification (baseline); *all in the job's DbList* is the end of the modification "
        "that brought the last addition, for both. *Objects lost* compares the final DbList with the initial "
        "list plus every addition.",
        "",
        "| " + " | ".join(h or "measure" for h in header) + " |",
        "|---" + "|---:" * (len(header) - 1) + "|",
    ]
    lines.extend("| " + " | ".join([r[0].strip(), *r[1:]]) + " |" for r in rows)
    lines.extend(["", "Targets for ours:", ""])
    lines.extend(f"- {'PASS' if v.ok else 'FAIL'}: {v.name} {v.value} (target {v.target})" for v in result.checks)
    if cmp:
        lines.append("")
        lines.append(
            f"Per event, the baseline makes {_fmt(cmp['accepted_ratio'], 0)}x the accepted ModifyDtsJob calls "
            f"of ours ({_fmt(cmp['attempted_ratio'], 0)}x the attempted ones) and takes "
            f"{_fmt(cmp['time_ratio'], 0)}x the wall time; extrapolated to {cfg.events} events it needs about "
            f"{_fmt(cmp['extrapolated_seconds'], 0)} s against {_fmt(ours.wall_seconds, 1)} s."
        )
    lines.extend(
        [
            "",
            "Why ours is flat: every event is recorded in the ledger first; one invocation at a time holds "
            "the job's lease, describes the job from its oldest open change and, while a modification runs, "
            "stops there (an instance that saw the job Modifying asks DTS nothing more for a second); once the "
            "job is free one pass folds everything open into one ModifyDtsJob, and the next confirms it. "
            f"Invocation outcomes: {ours.outcomes}; their passes: {ours.actions}; the handler processes "
            f"used {ours.worker_cpu_seconds:.1f} s of CPU in all. Timer passes (from-to, what they did): "
            f"{'; '.join(ours.timer_log)}.",
            "",
            "Sensitivity: the pass that folds or confirms about a thousand open changes costs about 0.6 s of "
            "CPU here and shares 2 cores with the handler processes, the emulator and whatever else runs; "
            "when an event burst outlasts the first timer tick, the work spreads over one tick more. On this "
            "shared machine repeated runs took 2.6-3.6 s, and up to 4-6 s while other test suites were "
            "running (the wall-time target then fails; the other targets held in every run).",
            "",
            "Hot spots found with `BURST_PROFILE=DIR` (cProfile of every worker and timer pass) and fixed "
            "on the way: the emulator deep-copied the job's list and every sub-task's list on each describe; "
            "a pass read every open change before taking the lease (stale versions, and a full read per "
            "event); passes compared records field by field in list lookups (quadratic); ledger records "
            "were deep-copied before serialising; the directory store listed folders with `os.walk` and "
            "`pathlib`; every event listed the open-change folder; and while the job was Modifying, every "
            "event read all open changes and described the job.",
            "",
            f"![Changes applied over time, both handlers]({svg_name})",
            "",
        ]
    )
    return "\n".join(lines)


def replace_section(document: str, section: str) -> str:
    """Swap in our section (up to the next `## ` heading), or append it; other sections stay as they are."""
    lines = document.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == SECTION_HEADING)
    except StopIteration:
        return document.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    new = [*lines[:start], *section.rstrip("\n").splitlines(), *([""] if end < len(lines) else []), *lines[end:]]
    return "\n".join(new).rstrip("\n") + "\n"


def write_docs(
    cfg: BurstConfig, result: BurstResult, runtime: float, *, svg_path: Path, doc_path: Path, command: str
) -> None:
    svg_path.parent.mkdir(parents=True, exist_ok=True)
    svg_path.write_text(render_svg(cfg, result.ours, result.naive), encoding="utf-8")
    svg_name = os.path.relpath(svg_path, doc_path.parent).replace(os.sep, "/")
    section = render_section(cfg, result, runtime, command=command, svg_name=svg_name)
    # Read right before writing: the other sections of this file are maintained by others.
    existing = doc_path.read_text(encoding="utf-8") if doc_path.exists() else "# Performance\n"
    doc_path.write_text(replace_section(existing, section), encoding="utf-8")

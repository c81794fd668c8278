"""SIGKILL crash trials: kill the pipeline process at random moments (and at a few targeted points),
run the interval again, and compare the whole warehouse with an uninterrupted run.

The suite runs 20 trials (tests/reliability/test_crash_recovery.py); a longer soak from the repository
root (takes ~7 s a trial):

    CRMWH_DATA_DIR=/tmp/crmwh-soak .venv/bin/python tests/reliability/crash_trials.py --trials 100

Every trial starts from the same state (interval 1 loaded and published; the demo source advanced by a
week), runs interval 2 in a child process (crash_child.py) and SIGKILLs it; the next run (in this
process) must leave core, analytics, marts and the published file with the checksums of the
uninterrupted baseline. A BI reader (tests/sql/published_reader.py) polls the published DuckDB file
and Parquet folder during all trials: every read must see one complete version.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import reliability_support as rs  # noqa: E402

from warehouse.foundation.settings import Settings  # noqa: E402
from warehouse.serve.publish import verify_published  # noqa: E402

CHILD = HERE / "crash_child.py"
READER = HERE.parent / "sql" / "published_reader.py"
READER_PACE = ("0.05", "3600")  # seconds between reads, and the poller's longest life
PHASES = ("extract", "stage", "validate", "load", "analytics", "publish")
# targeted kill points (the process kills itself right after the N-th call of the function returns)
TARGETS = (
    "warehouse.ingest.extract:extract_table:3",        # some source tables in raw, the others not yet
    "warehouse.ingest.staging:stage_crm_entity:2",     # staging commits per table: half-staged
    "warehouse.quality.validation.entry:record_results:1",  # inside validation, results partly recorded
    "warehouse.core.load:write_plain_models:1",      # inside the facts transaction (sales lines written)
    "warehouse.analytics.mining:_write:2",                # inside the mining transaction
    "warehouse.serve.publish.publisher:_build_version:1",  # new version fully built, not yet swapped in
)


@dataclass
class Trial:
    number: int
    kind: str  # random | targeted
    planned: str  # phase aimed at, or the target
    delay_s: float | None
    phase_at_kill: str
    killed: bool
    differences: dict = field(default_factory=dict)
    published_run: str = ""


@dataclass
class Bench:
    settings: Settings
    template: Path
    clock2: object
    baseline: dict
    timeline: dict[str, tuple[float, float]]
    work: Path
    next_child: tuple[subprocess.Popen, Path] | None = None


def _phase_lines(path: Path) -> list[tuple[str, float]]:
    out = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition(" ")
            try:
                out.append((name, float(value)))
            except ValueError:
                out.append((name, -1.0))
    return out


def _spawn(settings: Settings, work: Path, run_id: str, target: str = "") -> tuple[subprocess.Popen, Path]:
    phase_log = work / f"{run_id}.phases"
    args = [sys.executable, str(CHILD), rs.business_clock(settings).isoformat(), run_id, str(phase_log)]
    child = subprocess.Popen(args + ([target] if target else []), stdin=subprocess.PIPE,  # noqa: S603
                             stdout=subprocess.PIPE, text=True)
    return child, phase_log


def _go(child: subprocess.Popen) -> None:
    """Wait until the child has imported everything, then let it start the run."""
    line = child.stdout.readline()
    if line.strip() != "ready":
        child.kill()
        raise RuntimeError(f"crash child did not start: {line!r}")
    child.stdin.write("go\n")
    child.stdin.flush()


def _restore(settings: Settings, template: Path) -> None:
    """Put the working warehouse back to the trial's start state (the WAL of a killed run included)."""
    wh_dir = settings.warehouse_path.parent
    shutil.rmtree(wh_dir)
    shutil.copytree(template, wh_dir)


def prepare(settings: Settings, work: Path) -> Bench:
    """Interval 1 loaded and published, source advanced; an uninterrupted child run of interval 2 gives
    the baseline checksums and the phase timeline the random delays are drawn from."""
    work.mkdir(parents=True, exist_ok=True)
    rs.generate_tiny_demo(settings)
    rs.run_interval(settings, rs.business_clock(settings), "interval-1")
    template = work / "template"
    shutil.copytree(settings.warehouse_path.parent, template)
    clock2 = rs.advance_demo(settings, 7)
    child, phase_log = _spawn(settings, work, "baseline")
    _go(child)
    assert child.wait(timeout=300) == 0, "the uninterrupted run failed"
    lines = _phase_lines(phase_log)
    assert lines[-1][0] == "done"
    timeline: dict[str, tuple[float, float]] = {}
    for (name, t), (_, t_next) in zip(lines, lines[1:], strict=False):
        lo, hi = timeline.get(name, (t, t_next))
        timeline[name] = (min(lo, t), max(hi, t_next))
    baseline = rs.all_checksums(settings)
    shutil.copytree(settings.warehouse_path.parent, work / "baseline-warehouse")
    return Bench(settings, template, clock2, baseline, timeline, work)


def run_trial(bench: Bench, number: int, rng: random.Random, target: str = "",
              spawned: tuple[subprocess.Popen, Path] | None = None,
              spawn_next: Callable[[], tuple[subprocess.Popen, Path]] | None = None) -> Trial:
    """One trial; ``spawned`` is this trial's child if already started (it only waits for "go"),
    ``spawn_next`` starts the next trial's child during this trial's recovery run (start-up overlaps)."""
    settings = bench.settings
    _restore(settings, bench.template)
    run_id = f"trial-{number}"
    child, phase_log = spawned or _spawn(settings, bench.work, run_id, target)
    delay = None
    if target:
        planned = target
        _go(child)
        child.wait(timeout=300)
    else:
        planned = PHASES[number % len(PHASES)]
        lo, hi = bench.timeline.get(planned, (0.0, 1.0))
        delay = rng.uniform(lo, hi)
        _go(child)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    lines = _phase_lines(phase_log)
    killed = child.returncode == -signal.SIGKILL
    reached = [n for n, _ in lines if n in PHASES]
    phase = reached[-1] if reached else "startup"
    if not killed:
        phase = "completed"
    manifest = verify_published(settings)  # one complete version, whatever the moment of the kill
    bench.next_child = spawn_next() if spawn_next else None
    # the next run of the same interval (the scheduler's retry) repairs everything
    rs.run_interval(settings, bench.clock2, f"recover-{number}")
    differences = rs.diff(bench.baseline, rs.all_checksums(settings))
    if differences:  # keep the evidence
        shutil.copytree(settings.warehouse_path.parent, bench.work / f"trial-{number}-warehouse")
    return Trial(number, "targeted" if target else "random", planned, delay, phase, killed, differences,
                 manifest.run_id)


class Reader:
    """The BI reader process (tests/sql/published_reader.py, paced), restarted if it ever stops."""

    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings, self.progress, self.stop = settings, work / "reads.jsonl", work / "stop-reader"
        self.proc: subprocess.Popen | None = None
        self.ensure()

    def ensure(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, str(READER), str(self.settings.published_path),  # noqa: S603
                                          str(self.settings.parquet_dir), str(self.progress), str(self.stop),
                                          *READER_PACE])

    def finish(self) -> list[dict]:
        self.stop.touch()
        if self.proc is not None:
            self.proc.wait(timeout=60)
        return [json.loads(x) for x in self.progress.read_text(encoding="utf-8").splitlines() if x.strip()]


def run_trials(settings: Settings, work: Path, trials: int, seed: int = 7) -> tuple[list[Trial], list[dict]]:
    bench = prepare(settings, work)
    rng = random.Random(seed)
    reader = Reader(settings, work)
    results = []
    try:
        def target_of(number: int) -> str:
            # the first len(TARGETS) of every 20 trials hit the targeted points, the rest are random
            return TARGETS[number % 20] if number % 20 < len(TARGETS) else ""

        for number in range(trials):
            reader.ensure()
            nxt = number + 1
            spawn_next = (lambda nxt=nxt: _spawn(settings, work, f"trial-{nxt}", target_of(nxt))) \
                if nxt < trials else None
            results.append(run_trial(bench, number, rng, target_of(number), bench.next_child, spawn_next))
    finally:
        if bench.next_child is not None and bench.next_child[0].poll() is None:
            bench.next_child[0].kill()
        reads = reader.finish()
    return results, reads


def summarize(results: list[Trial], reads: list[dict]) -> str:
    by_phase: dict[str, int] = {}
    for r in results:
        by_phase[r.phase_at_kill] = by_phase.get(r.phase_at_kill, 0) + 1
    bad = [r for r in results if r.differences]
    bad_reads = [r for r in reads if not r.get("ok")]
    return (f"{len(results)} trials ({sum(r.killed for r in results)} killed); killed in phase: "
            f"{dict(sorted(by_phase.items()))}; final state differs from baseline: {len(bad)}; "
            f"reader: {len(reads)} reads, {len(bad_reads)} inconsistent or failed")


def main() -> int:
    import argparse
    import os

    from warehouse.foundation.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if "CRMWH_DATA_DIR" not in os.environ:
        parser.error("set CRMWH_DATA_DIR to a scratch directory (it is overwritten)")
    os.environ.setdefault("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    settings = load_settings()
    settings.ensure_dirs()
    work = Path(settings.data_dir) / "crash-work"
    shutil.rmtree(work, ignore_errors=True)
    results, reads = run_trials(settings, work, args.trials, args.seed)
    for r in results:
        print(f"trial {r.number:3d} {r.kind:8} {r.planned:40} delay={r.delay_s if r.delay_s is None else round(r.delay_s, 2)} "
              f"killed={r.killed} phase={r.phase_at_kill:10} published={r.published_run:12} "
              f"{'OK' if not r.differences else 'DIFF ' + str(r.differences)}")
    print(summarize(results, reads))
    return 0 if not any(r.differences for r in results) and all(r.get("ok") for r in reads) else 1


if __name__ == "__main__":
    sys.exit(main())

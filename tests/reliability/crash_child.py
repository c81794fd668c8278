"""The pipeline process the crash trials kill: one interval of ``crm_ingest`` + ``crm_analytics``.

    python crash_child.py END RUN_ID PHASE_LOG [TARGET]

Imports everything heavy first, prints ``ready``, then waits for one line on stdin before it starts, so
the parent's random delay falls on the pipeline's work, not on Python start-up. Each step appends
``<phase> <seconds since go>`` to PHASE_LOG (phases: extract, stage, validate, load, analytics,
publish). TARGET ``module:function:N`` makes the process SIGKILL itself right after the N-th call of
that function returns (a targeted kill point, e.g. ``warehouse.core.load:write_plain_models:1`` = inside the facts
transaction).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reliability_support as rs  # noqa: E402

from warehouse.foundation.settings import load_settings  # noqa: E402
from warehouse.ops import analytics_pipeline, pipeline  # noqa: E402

PHASES = {
    (pipeline, "extract_source"): "extract", (pipeline, "extract_files"): "extract",
    (pipeline, "stage"): "stage", (pipeline, "validate"): "validate",
    (pipeline, "load_dimensions"): "load", (pipeline, "load_facts"): "load",
    (analytics_pipeline, "resolve_as_of"): "analytics", (analytics_pipeline, "mine"): "analytics",
    (analytics_pipeline, "score_churn"): "analytics",
    (analytics_pipeline, "publish_marts"): "publish", (analytics_pipeline, "write_report"): "publish",
}


def main() -> int:
    end, run_id, phase_log = dt.datetime.fromisoformat(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    target = sys.argv[4] if len(sys.argv) > 4 else ""
    for name in ("warehouse.quality.validation", "warehouse.analytics.mining", "warehouse.analytics.churn", "warehouse.serve.publish",
                 "warehouse.serve.report", "warehouse.core.load", "warehouse.ingest.staging", "warehouse.ingest.extract"):
        importlib.import_module(name)  # warm: the kill window is the pipeline's work only
    log = phase_log.open("a", encoding="utf-8")
    started = [0.0]

    def phase_wrapper(module, attr, phase):
        original = getattr(module, attr)

        def wrapped(*args, **kwargs):
            log.write(f"{phase} {time.monotonic() - started[0]:.3f}\n")
            log.flush()
            return original(*args, **kwargs)
        setattr(module, attr, wrapped)

    for (module, attr), phase in PHASES.items():
        phase_wrapper(module, attr, phase)
    if target:
        module_name, attr, nth = target.split(":")
        module = importlib.import_module(module_name)
        original, calls = getattr(module, attr), [0]

        def killer(*args, **kwargs):
            result = original(*args, **kwargs)
            calls[0] += 1
            if calls[0] == int(nth):
                log.write(f"killed-at {target}\n")
                log.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        setattr(module, attr, killer)
    settings = load_settings()
    print("ready", flush=True)
    sys.stdin.readline()
    started[0] = time.monotonic()
    rs.run_interval(settings, end, run_id)
    log.write(f"done {time.monotonic() - started[0]:.3f}\n")
    log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

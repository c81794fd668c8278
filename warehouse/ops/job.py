"""The whole job in one process (``crmwh pipeline``): the steps of ``crm_ingest`` then ``crm_analytics``.

:data:`STEPS` is the one declaration of the job: each step names the task function the DAGs call
(``"module:function"``) and a title for the progress display. A step's arguments are bound by
parameter name from the job's context (:class:`JobContext`: ``settings``, ``run_id``, ``interval``,
``batch_ids``, ``cutoff``, ``as_of``, ``data_interval``), so adding a step is one line::

    Step("care", "weekly care scan: care actions", "warehouse.ops.services_pipeline:care_actions_for"),

(``optional``: skipped with a note while its module is not there). Nothing here imports a heavy library;
each step's module is imported when the step runs.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warehouse.foundation.errors import CrmwhError

if TYPE_CHECKING:  # --help lists the steps without loading the settings (pydantic-settings)
    from warehouse.foundation.settings import Settings


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    target: str  # "module:function", a task function of warehouse.ops.pipeline / warehouse.ops.analytics_pipeline
    fixed: Mapping[str, Any] = field(default_factory=dict)  # arguments that are not from the context
    adds_batches: bool = False  # the function returns batch ids that the later steps process
    optional: bool = False  # skip (with a note) when the target's module does not exist


STEPS: tuple[Step, ...] = (
    Step("extract_crm", "extract the CRM database", "warehouse.ops.pipeline:extract_source",
         fixed={"source": "crm"}, adds_batches=True),
    Step("extract_files", "extract new files of the landing folder", "warehouse.ops.pipeline:extract_files",
         adds_batches=True),
    Step("stage", "stage (type, trim, de-duplicate)", "warehouse.ops.pipeline:stage"),
    Step("validate", "validate (quarantine bad rows)", "warehouse.ops.pipeline:validate"),
    Step("load_dimensions", "load the dimensions", "warehouse.ops.pipeline:load_dimensions"),
    Step("load_facts", "load the facts and check the core", "warehouse.ops.pipeline:load_facts"),
    Step("mine", "mine association rules (cross-sell marts)", "warehouse.ops.analytics_pipeline:mine"),
    Step("churn", "score churn risk (retention marts)", "warehouse.ops.analytics_pipeline:score_churn"),
    Step("services", "services marts: funnel, renewals, SLAs", "warehouse.ops.services_pipeline:build_services_marts"),
    Step("care", "weekly care scan: this week's care actions", "warehouse.ops.services_pipeline:care_actions_for"),
    Step("publish", "validate and publish the marts", "warehouse.ops.analytics_pipeline:publish_marts"),
    Step("report", "write the marketers' report", "warehouse.ops.analytics_pipeline:write_report"),
)
STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)


@dataclass
class JobContext:
    """What the steps share; a step asks for any of these by parameter name."""

    settings: Settings
    interval: Any  # warehouse.ops.pipeline.Interval
    requested_as_of: str | None = None
    run_id: str = field(default_factory=lambda: f"pipeline.{dt.datetime.now():%Y%m%dT%H%M%S}.{uuid.uuid4().hex[:6]}")
    batch_ids: list[str] = field(default_factory=list)
    crm_extracted: bool = False
    _as_of: dt.date | None = None

    @property
    def cutoff(self) -> dt.datetime | None:
        """The facts' as-of clock: the interval end when the CRM database was read (as `crmwh run`)."""
        return self.interval.end if self.crm_extracted else None

    @property
    def data_interval(self) -> tuple[dt.datetime | None, dt.datetime]:
        return (self.interval.start, self.interval.end)

    @property
    def as_of(self) -> dt.date:
        """The analytics date: the one asked for, else the day after the latest sale (resolved once)."""
        if self._as_of is None:
            from warehouse.ops.analytics_pipeline import resolve_as_of

            self._as_of = resolve_as_of(self.settings, self.requested_as_of)
        return self._as_of


@dataclass
class StepResult:
    step: str
    status: str  # succeeded | failed | skipped
    seconds: float
    result: Any = None
    summary: str = ""


def resolve(step: Step) -> Callable[..., Any] | None:
    """The step's function; None for an optional step whose module is not there."""
    module_name, _, function_name = step.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if step.optional and exc.name == module_name:
            return None
        raise
    return getattr(module, function_name)


def bind(function: Callable[..., Any], step: Step, ctx: JobContext) -> dict[str, Any]:
    """Keyword arguments for ``function``: the step's fixed values, then context values by name."""
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in step.fixed:
            kwargs[name] = step.fixed[name]
        elif hasattr(ctx, name) and not name.startswith("_"):
            kwargs[name] = getattr(ctx, name)
        elif parameter.default is parameter.empty:
            raise CrmwhError(f"step {step.name}: {step.target} needs {name!r}, which the job does not provide")
    return kwargs


def summarize(step: Step, result: Any, ctx: JobContext) -> str:
    """One line about what a step did, from what its function returned."""
    if step.adds_batches:
        return f"{len(result or [])} batch(es)"
    if step.name == "load_facts":
        from warehouse.ops.pipeline import batch_summary

        rows = batch_summary(ctx.settings, ctx.batch_ids)
        totals = {k: sum(r[k] for r in rows) for k in ("rows_read", "rows_loaded", "rows_quarantined", "warnings")}
        failed = sum(1 for r in rows if r["status"] != "succeeded")
        return (f"read {totals['rows_read']}, loaded {totals['rows_loaded']}, quarantined "
                f"{totals['rows_quarantined']}, warnings {totals['warnings']}"
                + (f"; {failed} batch(es) not succeeded" if failed else ""))
    if isinstance(result, Mapping):
        if "version" in result:
            return f"version {result['version']}, validation {result.get('validation_status')}"
        marts = {k: v for k, v in result.items() if str(k).startswith("marts.")}
        shown = marts or {k: v for k, v in result.items() if isinstance(v, int | float | str)}
        return ", ".join(f"{k} {v}" for k, v in list(shown.items())[:8])
    if isinstance(result, list | tuple):  # the loading steps return the batch ids they processed
        return f"{len(result)} batch(es)"
    return "" if result is None else str(result)


def run_step(step: Step, ctx: JobContext) -> StepResult:
    started = time.monotonic()
    function = resolve(step)
    if function is None:
        return StepResult(step.name, "skipped", 0.0, None, f"{step.target} is not part of this installation")
    if step.name != "extract_crm" and not ctx.batch_ids and step.target.startswith("warehouse.ops.pipeline:") \
            and not step.adds_batches:
        return StepResult(step.name, "skipped", 0.0, None, "nothing new to load")
    result = function(**bind(function, step, ctx))
    if step.adds_batches:
        ctx.batch_ids.extend(result or [])
        if step.name == "extract_crm":
            ctx.crm_extracted = True
    return StepResult(step.name, "succeeded", time.monotonic() - started, result, summarize(step, result, ctx))


def selected_steps(skip: tuple[str, ...] = ()) -> list[Step]:
    unknown = sorted(set(skip) - set(STEP_NAMES))
    if unknown:
        raise CrmwhError(f"unknown step(s) {', '.join(unknown)}; the steps are {', '.join(STEP_NAMES)}")
    return [s for s in STEPS if s.name not in skip]

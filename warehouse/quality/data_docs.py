"""Great Expectations' own run of a suite (pandas engine), a cross-check of the DuckDB engine.

``warehouse.quality.validation`` decides quarantine with DuckDB predicates; this module runs the very same
suite through Great Expectations on the same check relation, so GE's counts are compared with ours and
its results kept in GE's validation result store (``<data dir>/gx``). The Data Docs pages are rendered
by ``warehouse.quality.data_docs_site`` from those results and ``audit.validation_results`` (GE's own pages
load CDN assets and are not built). GE's SQL path through duckdb-engine is broken upstream, so the batch goes to GE as a pandas
frame (only the columns the suite names). Above ``settings.validation.ge_max_rows`` rows GE sees every
row that any rule flags plus a fixed-seed sample of the clean rows: unexpected counts stay exact, the
element count and percentages are those of the frame GE saw (the page's run name says ``sampled``).

Great Expectations is imported lazily: it is heavy, and nothing else needs it.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from warehouse.foundation.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from warehouse.quality.suites import Suite

DATASOURCE = "crmwh_batches"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$")
log = logging.getLogger(__name__)


@dataclass
class GEReport:
    """What Great Expectations found for one batch."""

    success: bool
    element_count: int
    sampled: bool
    unexpected: dict[str, int | None] = field(default_factory=dict)  # rule id -> unexpected count
    errors: dict[str, str] = field(default_factory=dict)  # rule id -> exception message
    docs_index: Path | None = None


def gx_root(settings: Settings) -> Path:
    """The Great Expectations project directory (a file context under the data directory)."""
    return settings.data_dir / "gx"


def _quiet() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GE_USAGE_STATS", "False")
    warnings.filterwarnings("ignore", module="great_expectations")
    warnings.filterwarnings("ignore", module="pyspark")
    for name in ("great_expectations", "great_expectations.core", "py4j"):
        logging.getLogger(name).setLevel(logging.ERROR)


_CONTEXTS: dict[tuple[str, str], Any] = {}


def get_context(settings: Settings) -> Any:
    """A file-backed GE context rooted in the data directory, with the crmwh Data Docs site (cached per
    process: opening one costs about half a second)."""
    key = (str(gx_root(settings)),)
    if key in _CONTEXTS and (gx_root(settings) / "great_expectations.yml").is_file():
        return _CONTEXTS[key]
    context = _open_context(settings)
    _CONTEXTS[key] = context
    return context


def _open_context(settings: Settings) -> Any:
    _quiet()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(settings.data_dir))  # -> <data_dir>/gx
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    for site in list(context.get_config().data_docs_sites or {}):  # GE's own site (CDN assets): not built
        context.delete_data_docs_site(site)
    return context


def prune_history(settings: Settings, suite_name: str, keep: int) -> int:
    """Keep the newest ``keep`` stored validation results of a suite: an unbounded store slows every run
    (and the Data Docs keep as many checks per table, ``validation.data_docs_keep_runs``)."""
    import shutil

    removed = 0
    stores = [gx_root(settings) / "uncommitted" / "validations" / suite_name]
    results = sorted((p for p in stores[0].glob("*/*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in results[max(keep, 0):]:
        relative = old.relative_to(stores[0])
        for store in stores:
            target = store / relative
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            parent = target.parent
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
        removed += 1
    return removed


def ge_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Suite parameters as GE's pandas engine compares them (ISO dates become timestamps)."""
    import pandas as pd

    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and _ISO_DATE.match(value):
            out[key] = pd.Timestamp(value)
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = value
    if out.get("row_count_min") is None and out.get("row_count_max") is None:
        out["row_count_min"] = 0
    return out


def _ge_suite(suite: Suite, *, sampled: bool) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    meta = {k: v for k, v in (suite.raw.get("meta") or {}).items() if k not in ("references", "notes")}
    ge_suite = gx.ExpectationSuite(name=suite.table, meta=meta, notes=suite.raw.get("notes"))
    for rule in suite.rules:
        if not rule.expectation_type.startswith("expect_"):
            continue  # crmwh_* table checks (e.g. totals reconcile) have no GE implementation
        if sampled and rule.expectation_type == "expect_table_row_count_to_be_between":
            continue
        ge_suite.add_expectation_configuration(ExpectationConfiguration(
            type=rule.expectation_type, kwargs=rule.kwargs, meta=rule.meta,
            severity="warning" if rule.severity == "warning" else "critical"), match_type="success")
    return ge_suite


def _frame(con: duckdb.DuckDBPyConnection, check_table: str, columns: list[str], flagged_sql: str | None,
           max_rows: int) -> tuple[Any, bool]:
    cols = ", ".join('"' + c + '"' for c in columns)
    total = int(con.execute(f"select count(*) from {check_table}").fetchone()[0])  # noqa: S608
    if total <= max_rows or flagged_sql is None:
        return con.execute(f"select {cols} from {check_table}").df(), False  # noqa: S608
    frame = con.execute(
        f"""select {cols} from (select *, {flagged_sql} as _flag from {check_table}) where _flag
            union all
            select {cols} from (select * from (select *, {flagged_sql} as _flag from {check_table}) where not _flag)
            using sample reservoir({int(max_rows)} rows) repeatable (42)"""  # noqa: S608
    ).df()
    return frame, True


def run_suite(con: duckdb.DuckDBPyConnection, settings: Settings, suite: Suite, batch_id: str,
              params: dict[str, Any], check_table: str, flagged_sql: str | None = None) -> GEReport:
    """Validate the check relation with Great Expectations and update the Data Docs site."""
    _quiet()
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    present = {r[0] for r in con.execute(f"select * from {check_table} limit 0").description}  # noqa: S608
    needed = sorted({c for rule in suite.rules for c in rule.columns} & present)
    frame, sampled = _frame(con, check_table, needed, flagged_sql, settings.validation.ge_max_rows)
    context = get_context(settings)
    prune_history(settings, suite.table, keep=settings.validation.data_docs_keep_runs - 1)
    ge_suite = context.suites.add_or_update(_ge_suite(suite, sampled=sampled))
    source = context.data_sources.add_or_update_pandas(DATASOURCE)
    try:
        asset = source.get_asset(suite.table)
    except LookupError:
        asset = source.add_dataframe_asset(name=suite.table)
    try:
        batch_definition = asset.get_batch_definition("whole_batch")
    except (KeyError, LookupError):
        batch_definition = asset.add_batch_definition_whole_dataframe("whole_batch")
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.table, data=batch_definition, suite=ge_suite))
    # no UpdateDataDocsAction: GE's own pages need CDNs; warehouse.quality.data_docs_site renders the Data Docs
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=suite.table, validation_definitions=[definition], actions=[],
        result_format={"result_format": settings.validation.ge_result_format, "partial_unexpected_count": 10}))
    total = int(con.execute(f"select count(*) from {check_table}").fetchone()[0])  # noqa: S608
    run_name = f"{batch_id} (GE saw {len(frame)} of {total} rows: every flagged row + a sample)" if sampled else batch_id
    result = checkpoint.run(batch_parameters={"dataframe": frame},
                            expectation_parameters=ge_parameters(params),
                            run_id=RunIdentifier(run_name=run_name, run_time=datetime.now(UTC)))
    report = GEReport(success=bool(result.success), element_count=len(frame), sampled=sampled)
    for validation in result.run_results.values():
        for r in validation.results:
            rule = (r.expectation_config.meta or {}).get("rule", r.expectation_config.type)
            info = r.exception_info or {}
            if info.get("raised_exception"):
                report.errors[rule] = str(info.get("exception_message"))
            report.unexpected[rule] = (r.result or {}).get("unexpected_count")
    report.docs_index = settings.data_docs_dir / "index.html"  # written by warehouse.quality.data_docs_site
    return report

"""The one writer of the SQL models: reads a model's header (``warehouse.core.model_spec``), runs its select and
writes the rows with the declared strategy.

- ``upsert key=<id> [hash_exclude=...]``: ``warehouse.core.core_writes.upsert_fact`` (change-only, by id).
- ``scd2 spec=<customer|product>``: ``warehouse.core.scd2.merge_scd2`` (type-2 merge of the incoming versions).
- ``replace``: ``create or replace table``; ``append``: ``insert into ... by name``.

A model's SQL is the whole table: conformed keys are joined in it through the declared run relations
(``warehouse.foundation.run_relations``: ``_customer_versions``, ``_product_versions``, ...); the caller binds the
``$params`` it declares. Models of one table are unioned (``union all by name``) before the write. A
model whose ``requires`` tables do not exist, or none of whose ``drivers`` got rows in ``_load_batches``,
is skipped.

Every write is logged (table, models, strategy, rows) and returned as a :class:`WriteResult`; the
table's Airflow Asset is the one ``warehouse.ops.assets`` declares from the same headers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from warehouse.core.core_writes import KEY_HASH, upsert_fact
from warehouse.core.model_spec import SQL_DIR, Model, ModelHeaderError, discover
from warehouse.core.scd2 import SCD2_SPECS, merge_scd2
from warehouse.foundation.db import table_exists

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteResult:
    target: str
    models: tuple[str, ...]
    strategy: str
    rows: int  # rows written (upsert, replace, append) or keys affected (scd2)


def ready(con: duckdb.DuckDBPyConnection, model: Model) -> bool:
    """The model's required tables exist and, when it declares drivers, one of them got rows in the
    batches being loaded (a shop's empty services tables cost nothing)."""
    if not all(table_exists(con, t) for t in model.requires):
        return False
    if not model.drivers:
        return True
    touched = " union all ".join(
        f"select 1 from {t} where _batch_id in (select batch_id from _load_batches)" for t in model.drivers)
    return bool(con.execute(f"select exists ({touched})").fetchall()[0][0])  # noqa: S608 - declared names


def _params(models: Sequence[Model], params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    declared = {p for m in models for p in m.params}
    if missing := declared - set(params or {}):
        raise ModelHeaderError(f"{', '.join(m.name for m in models)}: params not given: {', '.join(sorted(missing))}")
    return {k: v for k, v in (params or {}).items() if k in declared} or None


def write_models(con: duckdb.DuckDBPyConnection, models: Sequence[Model], *,
                 params: Mapping[str, Any] | None = None, stage_as: str | None = None) -> WriteResult | None:
    """Run the ready ``models`` (all of one table and strategy) and write their rows; None when none is
    ready. ``stage_as`` materializes the rows in that temp table first (a type-2 merge always does)."""
    if not models:
        return None
    first = models[0]
    if any(m.target != first.target or m.write != first.write for m in models):
        raise ModelHeaderError(f"models {[m.name for m in models]} do not write one table one way")
    active = [m for m in models if ready(con, m)]
    if not active:
        return None
    rows_sql = active[0].sql if len(active) == 1 else \
        " union all by name ".join(f"select * from ({m.sql})" for m in active)
    bound = _params(active, params)
    if first.write.strategy == "scd2":
        stage_as = stage_as or "_scd2_incoming"
    if stage_as:
        con.execute(f"create or replace temp table {stage_as} as {rows_sql}", bound)
        rows_sql, bound = f"select * from {stage_as}", None
    result = WriteResult(first.target, tuple(m.name for m in active), first.write.strategy,
                         _write(con, first, rows_sql, bound, stage_as))
    log.info("model %s -> %s (%s): %d rows", ", ".join(result.models), result.target, result.strategy, result.rows)
    return result


def write_plain_models(con: duckdb.DuckDBPyConnection, folder: str, handled: set[str],
                       sql_dir: Path = SQL_DIR) -> list[WriteResult]:
    """Write every model of ``folder`` whose table no loader of its own writes (``handled``): a model whose
    SQL is the whole table, conformed keys included (a new fact is one SQL file). Returns the writes."""
    results = []
    by_target: dict[str, list[Model]] = {}
    for model in discover(folder, sql_dir):
        if model.target not in handled and model.write.strategy != "custom":
            by_target.setdefault(model.target, []).append(model)
    for models in by_target.values():
        if (result := write_models(con, models)) is not None:
            results.append(result)
    return results


def _ensure_table(con: duckdb.DuckDBPyConnection, model: Model, select: str, params: dict[str, Any] | None) -> None:
    """A model whose table no DDL declares gets one shaped like its rows (plus the content and id hashes
    of an upsert)."""
    if table_exists(con, model.target):
        return
    extra = f", null::varchar as _hash, null::ubigint as {KEY_HASH}" if model.write.strategy == "upsert" else ""
    con.execute(f"create table {model.target} as select *{extra} from ({select}) limit 0", params)
    log.info("model %s: created %s from its columns (no DDL declares it)", model.name, model.target)


def _write(con: duckdb.DuckDBPyConnection, model: Model, select: str, params: dict[str, Any] | None,
           staged: str | None) -> int:
    write = model.write
    if write.strategy in ("upsert", "append"):
        _ensure_table(con, model, select, params)
    if write.strategy == "upsert":
        if params:
            raise ModelHeaderError(f"{model.path}: an upsert model binds its params when staged (stage_as)")
        return upsert_fact(con, model.target, str(write.key), select, hash_exclude=write.hash_exclude)
    if write.strategy == "scd2":
        if write.spec not in SCD2_SPECS:
            raise ModelHeaderError(f"{model.path}: no type-2 spec {write.spec!r} (known: {', '.join(SCD2_SPECS)})")
        return merge_scd2(con, SCD2_SPECS[write.spec], str(staged))
    if write.strategy == "replace":
        con.execute(f"create or replace table {model.target} as {select}", params)
        return int(con.execute(f"select count(*) from {model.target}").fetchall()[0][0])  # noqa: S608
    if write.strategy == "append":
        row = con.execute(f"insert into {model.target} by name {select}", params).fetchone()
        return int(row[0]) if row else 0
    raise ModelHeaderError(f"{model.path}: write {write.strategy} is done by its own Python code, not the writer")

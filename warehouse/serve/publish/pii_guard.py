"""The PII guard: no published column may hold personal data. By column name (``pii_column_patterns``)
and by content: text values shaped like e-mails or phones (the same rules staging masks with), or equal
to a customer's or employee's name, e-mail or phone in ``core``. Findings name columns, never values."""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb

from warehouse.foundation.pii import pii_predicates  # the same rules staging masks e-mails and phones with
from warehouse.foundation.settings import PublishSettings
from warehouse.foundation.sqltext import quote_ident
from warehouse.serve.publish.dictionary import SOURCE_SCHEMA, MartTable
from warehouse.serve.publish.errors import PiiLeakError


def pii_column_name_findings(tables: Sequence[MartTable], cfg: PublishSettings) -> list[str]:
    """Published columns whose NAME says they hold a person's name, e-mail or phone."""
    patterns = [re.compile(p, re.IGNORECASE) for p in cfg.pii_column_patterns]
    return [
        f"{t.name}.{c.name}: column name looks like personal data"
        for t in tables for c in t.columns
        if any(p.fullmatch(c.name) for p in patterns)
    ]


def _pii_reference_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """People's names, e-mails and phones from ``core`` of the working warehouse, when present."""
    present = {
        (t, c) for t, c in con.execute(
            """
            select table_name, column_name from duckdb_columns()
            where database_name = current_database() and schema_name = 'core'
              and table_name in ('dim_customer', 'dim_employee') and column_name in ('name', 'email', 'phone')
            """
        ).fetchall()
    }
    parts = [f"select cast({quote_ident(c)} as varchar) as ref from core.{quote_ident(t)}" for t, c in sorted(present)]  # noqa: S608 - identifiers quoted, values bound or literal-quoted
    return " union ".join(parts) if parts else None


PII_REFERENCE_TABLE = "_crmwh_pii_reference"
PII_REFERENCE_FINDING = "equal a customer's or employee's name, e-mail or phone in core"


def pii_content_findings(con: duckdb.DuckDBPyConnection, tables: Sequence[MartTable],
                         cfg: PublishSettings) -> list[str]:
    """Text values of the marts that look like e-mails or phones, or equal a person's name/e-mail/phone.

    Scans every VARCHAR and VARCHAR[] column of the working warehouse's marts, one query per table.
    """
    reference = _pii_reference_sql(con)
    if reference is not None:
        con.execute(
            f"create or replace temp table {PII_REFERENCE_TABLE} as select distinct ref from ({reference}) "  # noqa: S608 - identifiers quoted, values bound or literal-quoted
            f"where ref is not null and length(ref) >= {int(cfg.pii_exact_match_min_length)}"
        )
    findings: list[str] = []
    try:
        for table in tables:
            checks: list[tuple[str, str, str]] = []  # (column, finding, count expression)
            for column in table.columns:
                col = quote_ident(column.name)
                if column.data_type == "VARCHAR":
                    for finding, predicate in pii_predicates(cfg, col).items():
                        checks.append((column.name, f"value(s) {finding}", f"count(*) filter (where {predicate})"))
                    if reference is not None:
                        checks.append((column.name, f"value(s) {PII_REFERENCE_FINDING}",
                                       f"count(*) filter (where {col} in (select ref from {PII_REFERENCE_TABLE}))"))
                elif column.data_type == "VARCHAR[]":
                    list_checks = [(f"list value(s) {f}", f"count(*) filter (where {p})")
                                   for f, p in pii_predicates(cfg, "v").items()]
                    if reference is not None:
                        list_checks.append((f"list value(s) {PII_REFERENCE_FINDING}",
                                            f"count(*) filter (where v in (select ref from {PII_REFERENCE_TABLE}))"))
                    counts = con.execute(
                        f"select {', '.join(e for _, e in list_checks)} from (select unnest({col}) as v "  # noqa: S608 - identifiers quoted, values bound or literal-quoted
                        f"from {SOURCE_SCHEMA}.{quote_ident(table.name)})"
                    ).fetchone()
                    findings.extend(f"{table.name}.{column.name}: {n} {finding}"
                                    for (finding, _), n in zip(list_checks, counts, strict=True) if n)
            if not checks:
                continue
            counts = con.execute(
                f"select {', '.join(expr for _, _, expr in checks)} "  # noqa: S608 - identifiers quoted, values bound or literal-quoted
                f"from {SOURCE_SCHEMA}.{quote_ident(table.name)}"
            ).fetchone()
            findings.extend(f"{table.name}.{column}: {n} {finding}"
                            for (column, finding, _), n in zip(checks, counts, strict=True) if n)
    finally:
        if reference is not None:
            con.execute(f"drop table if exists {PII_REFERENCE_TABLE}")
    return findings


def check_pii(con: duckdb.DuckDBPyConnection, tables: Sequence[MartTable], cfg: PublishSettings) -> None:
    """Raise PiiLeakError naming every offending column (never the values themselves)."""
    findings = pii_column_name_findings(tables, cfg) + pii_content_findings(con, tables, cfg)
    if findings:
        raise PiiLeakError(
            "publish refused, personal data in the marts (names, e-mails and phones stay in core; marts "
            "carry the customer business id): " + "; ".join(findings)
        )

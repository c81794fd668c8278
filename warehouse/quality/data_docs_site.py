"""Data Docs that work offline: static HTML pages rendered from the validation results.

Great Expectations' own pages load their CSS and JavaScript from CDNs (unstyled and partly empty
without internet) and cover only the suites GE runs (staging). These pages are rendered by crmwh from
``audit.validation_results`` (every check: staging batches, the core after each load, the marts before
each publish) and GE's stored results for the same batches, with the styles inline and no script and
no external URL, so they read the same on a laptop on a plane as in a browser behind a proxy.

Layout under ``settings.data_docs_dir``::

    index.html                      latest check per table (staging, core, marts), then every run kept
    runs/<table>/<batch>.html       one check: its status, every rule with severity, count and reason
    suites/<table>.html             one data contract: its rules as declared in expectations/<table>.json

Every status shown is the one vocabulary of ``warehouse.quality.validation_status`` (passed, warning, failed,
not_validated), the same that ``crmwh status`` and the publish manifest show.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from warehouse.foundation.db import table_exists
from warehouse.foundation.settings import EXPECTATIONS_DIR, Settings
from warehouse.quality.validation_status import MEANING, STATUSES, status_of, validation_status_from_audit

LAYERS: tuple[str, ...] = ("staging", "core", "marts")
LAYER_TITLES = {"staging": "Staging batches (rows that break an error rule are quarantined)",
                "core": "Core star schema (checked inside each load)", "marts": "Published marts (checked before each publish)"}
PSEUDO_RULES = frozenset({"_rows_checked"})
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1f2933;background:#f7f8fa}
header{background:#243b53;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#d9e2ec}
header a{color:#fff}main{padding:24px 32px;max-width:1400px}h2{font-size:18px;margin:28px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{border-bottom:1px solid #e4e7eb;padding:6px 10px;text-align:left;vertical-align:top}th{background:#f0f4f8;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre{white-space:pre-wrap;margin:0;max-width:640px;overflow-wrap:anywhere}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;color:#fff}
.status-passed{background:#2f855a}.status-warning{background:#b7791f}.status-failed{background:#c53030}
.status-not_validated{background:#718096}.legend td{border:0;padding:3px 10px}.muted{color:#616e7c}
a{color:#2b6cb0;text-decoration:none}a:hover{text-decoration:underline}
"""


@dataclass
class Run:
    """One check of one table: a staging batch, a core load or a marts publish run."""

    table: str
    batch_id: str
    checked_at: datetime
    rows_checked: int
    results: list[tuple[Any, ...]] = field(default_factory=list)  # (rule, type, severity, success, count, details)

    @property
    def status(self) -> str:
        return status_of((r[2], r[3]) for r in self.results)

    @property
    def broken(self) -> dict[str, int]:
        out = {"critical": 0, "error": 0, "warning": 0}
        for _, _, severity, success, _, _ in self.results:
            if not success:
                out[severity] = out.get(severity, 0) + 1
        return out


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:150] or "run"


def run_href(run: Run) -> str:
    return f"runs/{_safe(run.table)}/{_safe(run.batch_id)}.html"


def load_suites() -> dict[str, dict[str, Any]]:
    """Every data contract in expectations/, by table name, with its layer."""
    suites: dict[str, dict[str, Any]] = {}
    for path in sorted(EXPECTATIONS_DIR.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        declared = str((raw.get("meta") or {}).get("table", path.stem))
        layer = declared.split(".", 1)[0] if "." in declared else "staging"
        suites[path.stem] = {"raw": raw, "layer": layer if layer in LAYERS else "staging", "declared": declared}
    return suites


def load_runs(con: duckdb.DuckDBPyConnection, keep: int) -> list[Run]:
    """The latest ``keep`` checks per table from audit.validation_results (newest first)."""
    if not table_exists(con, "audit.validation_results"):
        return []
    rows = con.execute(
        """
        with runs as (
            select table_name, batch_id, max(checked_at) as checked_at, max(rows_checked) as rows_checked,
                   row_number() over (partition by table_name order by max(checked_at) desc, batch_id desc) as rn
            from audit.validation_results group by table_name, batch_id
        )
        select r.table_name, r.batch_id, r.checked_at, r.rows_checked, v.rule, v.expectation_type, v.severity,
               v.success, v.unexpected_count, v.details
        from runs r join audit.validation_results v using (table_name, batch_id)
        where r.rn <= ? order by r.checked_at desc, r.table_name, r.batch_id, v.rule
        """, [max(1, keep)]).fetchall()
    runs: dict[tuple[str, str], Run] = {}
    for table, batch, checked_at, rows_checked, rule, kind, severity, success, count, details in rows:
        run = runs.setdefault((table, batch), Run(table, batch, checked_at, int(rows_checked or 0)))
        if rule not in PSEUDO_RULES:
            run.results.append((rule, kind, severity, bool(success), int(count or 0), details))
    return list(runs.values())


def _ge_verdicts(settings: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    """Great Expectations' own verdict per (suite, batch) from its result store, where it ran."""
    from warehouse.quality.data_docs import gx_root

    store = gx_root(settings) / "uncommitted" / "validations"
    verdicts: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(store.glob("*/*/*/*.json")):
        suite, run_name = path.parts[-4], path.parts[-3]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        batch = run_name.split(" (GE saw", 1)[0]
        verdicts[(suite, batch)] = {"success": bool(data.get("success")), "statistics": data.get("statistics") or {},
                                    "sampled": "(GE saw" in run_name}
    return verdicts


esc = html.escape


def _badge(status: str) -> str:
    return f'<span class="status status-{esc(status)}">{esc(status)}</span>'


def _page(title: str, subtitle: str, body: str, depth: int) -> str:
    home = "../" * depth + "index.html"
    return "\n".join([
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{esc(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<header><h1>{esc(title)}</h1><p>{subtitle} · <a href=\"{home}\">all data contracts</a></p></header>",
        f"<main>{body}</main></body></html>"])


def _legend() -> str:
    rows = "".join(f"<tr><td>{_badge(s)}</td><td>{esc(MEANING[s])}</td></tr>" for s in STATUSES)
    return f"<table class=legend>{rows}</table>"


def _run_row(run: Run, suites: dict[str, dict[str, Any]], depth: int = 0) -> str:
    up = "../" * depth
    broken = run.broken
    counts = ", ".join(f"{n} {k}" for k, n in broken.items() if n) or "none"
    suite_link = (f'<a href="{up}suites/{_safe(run.table)}.html">{esc(run.table)}</a>' if run.table in suites
                  else esc(run.table))
    return (f"<tr><td>{suite_link}</td><td>{esc(f'{run.checked_at:%Y-%m-%d %H:%M:%S}')}</td>"
            f'<td><a href="{up}{run_href(run)}">{esc(run.batch_id)}</a></td><td>{_badge(run.status)}</td>'
            f"<td>{esc(counts)}</td><td class=num>{run.rows_checked:,}</td></tr>")


RUN_HEADER = ("<tr><th>table</th><th>checked</th><th>batch or run</th><th>status</th><th>rules broken</th>"
              "<th>rows checked</th></tr>")


def render_index(runs: list[Run], suites: dict[str, dict[str, Any]], generated: datetime, overall: str) -> str:
    latest: dict[str, Run] = {}
    for run in runs:  # newest first
        latest.setdefault(run.table, run)
    parts = [f"<p id=overall>Validation status of the warehouse now: {_badge(overall)} (the latest result of "
             "every rule of every table: what the next publish records in its manifest and what "
             "<code>crmwh status</code> shows per batch).</p>",
             "<p>Every guarded table's data contract (a Great Expectations suite in <code>expectations/</code>) "
             "and the result of each check. Statuses:</p>", _legend()]
    for layer in LAYERS:
        tables = sorted(t for t, s in suites.items() if s["layer"] == layer)
        parts.append(f"<h2>{esc(LAYER_TITLES[layer])}</h2><table>{RUN_HEADER}")
        for table in tables:
            if table in latest:
                parts.append(_run_row(latest[table], suites))
            else:
                parts.append(f'<tr><td><a href="suites/{_safe(table)}.html">{esc(table)}</a></td><td></td><td '
                             f'class=muted>not checked yet</td><td>{_badge("not_validated")}</td><td></td><td></td></tr>')
        parts.append("</table>")
    parts.append(f"<h2>Every check kept ({len(runs)})</h2><table>{RUN_HEADER}")
    parts.extend(_run_row(r, suites) for r in runs)
    parts.append("</table>")
    return _page("Data contracts: validation results", f"generated {generated:%Y-%m-%d %H:%M:%S}", "".join(parts), 0)


def _rule_meta(suite: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if suite is None:
        return {}
    return {str((e.get("meta") or {}).get("rule")): e for e in suite["raw"].get("expectations", [])}


def _details(text: str | None) -> str:
    if not text:
        return ""
    try:
        value = json.loads(text)
    except ValueError:
        return f"<pre>{esc(text)}</pre>"
    return f"<pre>{esc(json.dumps(value, indent=1, ensure_ascii=False, default=str)[:4000])}</pre>"


def render_run(run: Run, suite: dict[str, Any] | None, ge: dict[str, Any] | None) -> str:
    meta = _rule_meta(suite)
    parts = [f"<p>Status {_badge(run.status)} &nbsp; {esc(MEANING[run.status])}. Rows checked: "
             f"{run.rows_checked:,}. Checked {esc(f'{run.checked_at:%Y-%m-%d %H:%M:%S}')}.</p>"]
    if ge is not None:
        stats = ge["statistics"]
        parts.append(
            f"<p class=muted>Great Expectations ran the same suite{' on a sample' if ge['sampled'] else ''}: "
            f"{stats.get('successful_expectations', '?')} of {stats.get('evaluated_expectations', '?')} expectations "
            f"met. Its run is unsuccessful whenever any rule breaks, whatever the rule's severity; the status "
            "above weighs the severity (quarantined rows and warnings are <em>warning</em>, only a critical rule "
            "is <em>failed</em>).</p>")
    parts.append("<table><tr><th>rule</th><th>check</th><th>severity</th><th>result</th><th>rows or items</th>"
                 "<th>reason</th><th>details</th></tr>")
    order = {"critical": 0, "error": 1, "warning": 2}
    for rule, kind, severity, success, count, details in sorted(
            run.results, key=lambda r: (r[3], order.get(r[2], 3), r[0])):
        reason = (meta.get(rule, {}).get("meta") or {}).get("reason", "")
        result = _badge("passed") if success else _badge("failed" if severity == "critical" else "warning")
        parts.append(f"<tr><td><code>{esc(rule)}</code></td><td><code>{esc(kind)}</code></td><td>{esc(severity)}"
                     f"</td><td>{result}</td><td class=num>{count:,}</td><td>{esc(str(reason))}</td>"
                     f"<td>{_details(details)}</td></tr>")
    parts.append("</table>")
    return _page(f"{run.table}: {run.batch_id}", f"{esc(run.table)} · check of {esc(run.batch_id)}", "".join(parts), 2)


def render_suite(table: str, suite: dict[str, Any], runs: list[Run]) -> str:
    raw = suite["raw"]
    parts = [f"<p>Guards <code>{esc(suite['declared'])}</code> ({esc(suite['layer'])}); declared in "
             f"<code>expectations/{esc(table)}.json</code>.</p>"]
    if raw.get("notes"):
        parts.append(f"<p>{esc(str(raw['notes']))}</p>")
    parts.append("<table><tr><th>rule</th><th>severity</th><th>check</th><th>arguments</th><th>reason</th></tr>")
    for exp in raw.get("expectations", []):
        m = exp.get("meta") or {}
        parts.append(f"<tr><td><code>{esc(str(m.get('rule', '')))}</code></td><td>{esc(str(m.get('severity', '')))}</td>"
                     f"<td><code>{esc(str(exp.get('type', '')))}</code></td>"
                     f"<td><pre>{esc(json.dumps(exp.get('kwargs') or {}, ensure_ascii=False))}</pre></td>"
                     f"<td>{esc(str(m.get('reason', '')))}</td></tr>")
    parts.append("</table>")
    mine = [r for r in runs if r.table == table]
    parts.append(f"<h2>Checks kept ({len(mine)})</h2><table>{RUN_HEADER}")
    parts.extend(_run_row(r, {table: suite}, depth=1) for r in mine)
    parts.append("</table>")
    return _page(f"Data contract: {table}", esc(suite["declared"]), "".join(parts), 1)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# What earlier versions left in the folder: Great Expectations' own site (CDN-styled) and its index.
STALE = ("validations", "expectations", "static", "ge_index.html")


def render_site(con: duckdb.DuckDBPyConnection, settings: Settings, tables: set[str] | None = None) -> Path:
    """(Re)write the site from the connection's validation results; returns index.html. With
    ``tables``, only those tables' run and suite pages are rewritten (and any page not there yet)."""
    docs = settings.data_docs_dir
    docs.mkdir(parents=True, exist_ok=True)
    for name in STALE if tables is None else ():
        stale = docs / name
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        elif stale.is_file():
            stale.unlink()
    suites = load_suites()
    runs = load_runs(con, settings.validation.data_docs_keep_runs)
    ge = _ge_verdicts(settings)
    wanted: set[Path] = set()
    for run in runs:
        page = docs / run_href(run)
        wanted.add(page)
        if tables is None or run.table in tables or not page.exists():
            _write(page, render_run(run, suites.get(run.table), ge.get((run.table, run.batch_id))))
    for table, suite in suites.items():
        page = docs / "suites" / f"{_safe(table)}.html"
        wanted.add(page)
        if tables is None or table in tables or not page.exists():
            _write(page, render_suite(table, suite, runs))
    for folder in ("runs", "suites"):  # pages of checks no longer kept
        for page in (docs / folder).rglob("*.html"):
            if page not in wanted:
                page.unlink()

    index = docs / "index.html"
    _write(index, render_index(runs, suites, datetime.now(), validation_status_from_audit(con)))
    return index


def render_site_if_enabled(con: duckdb.DuckDBPyConnection, settings: Settings,
                           tables: set[str] | None = None) -> Path | None:
    """The hook the validation functions call after recording results: render the pages of ``tables``
    and the index when Data Docs are on; never fail the validation for it."""
    if not settings.validation.data_docs_enabled:
        return None
    try:
        return render_site(con, settings, tables)
    except (OSError, duckdb.Error) as exc:
        import logging

        logging.getLogger(__name__).warning("Data Docs not rendered: %s", exc)
        return None

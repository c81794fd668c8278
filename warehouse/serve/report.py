"""The marketers' report: one self-contained HTML file with charts of the published marts.

It reads only the published (read-only) version, never the working warehouse. plotly.js is inlined
once, so the file opens offline with no CDN. A chart whose mart (or the columns it needs) is not
published yet shows a "no data yet" panel saying what is missing, instead of failing the report.
Column names are resolved from a short list of candidates per chart, declared once below.
"""

from __future__ import annotations

import html
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.offline import get_plotlyjs

from warehouse.foundation.errors import CrmwhError
from warehouse.foundation.settings import Settings
from warehouse.foundation.sqltext import quote_ident
from warehouse.serve.publish import DICTIONARY_TABLE, MANIFEST_TABLE
from warehouse.serve.report_marts import Marts, MissingData, Panel, layout
from warehouse.serve.report_services import SERVICES_TABLES, services_charts

log = logging.getLogger(__name__)

REPORT_FILE_NAME = "report.html"
LIFECYCLE_ORDER: tuple[str, ...] = ("exploration", "formation", "stability", "decline")
RFM_ORDER: tuple[str, ...] = ("Champions", "Loyal", "Potential Loyalist", "New", "At Risk", "Can't Lose",
                              "Hibernating", "Lost")
OVERALL_VALUES: tuple[str, ...] = ("all", "overall", "total", "")
# Which split of marts.churn_by_segment the churn-trend chart shows, first present wins.
CHURN_DIMENSION_PREFERENCE: tuple[str, ...] = ("rfm_segment", "segment", "customer_segment")

class ReportError(CrmwhError):
    """The report could not be written."""


def _label(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _overall_filter(marts: Marts, table: str, roles: Sequence[str]) -> str:
    """Keep the overall rows of a segmented/windowed table when it has any."""
    assert marts.con is not None
    clauses = []
    for role, column in marts.optional(table, *roles).items():
        del role
        values = ", ".join("'" + v + "'" for v in OVERALL_VALUES)
        cond = f"({quote_ident(column)} is null or lower(cast({quote_ident(column)} as varchar)) in ({values}))"
        (n,) = marts.con.execute(f"select count(*) from {quote_ident(table)} where {cond}").fetchone()  # noqa: S608 - quoted identifiers
        if n:
            clauses.append(cond)
    return (" where " + " and ".join(clauses)) if clauses else ""


def _unit(values: Sequence[float]) -> list[float]:
    """Values scaled to 0..1 over [0, max(1, largest)] (risk scores are probabilities)."""
    top = max([1.0, *values])
    return [min(1.0, max(0.0, v / top)) for v in values]


# Charts -----------------------------------------------------------------------------------------

def chart_rules(marts: Marts, settings: Settings) -> go.Figure:
    table = "cross_sell_rules"
    c = marts.require(table, "support", "confidence", "lift")
    names = marts.optional(table, "antecedent", "consequent")
    where = _overall_filter(marts, table, ("rule_segment_dimension", "rule_segment", "rule_window"))
    ante = quote_ident(names["antecedent"]) if "antecedent" in names else "null"
    cons = quote_ident(names["consequent"]) if "consequent" in names else "null"
    rows = marts.rows(table,
        f"select {quote_ident(c['support'])}, {quote_ident(c['confidence'])}, {quote_ident(c['lift'])}, {ante}, {cons} "  # noqa: S608 - quoted identifiers
        f"from {quote_ident(table)}{where} order by {quote_ident(c['lift'])} desc nulls last, {quote_ident(c['confidence'])} desc "
        f"limit {int(settings.publish.report_top_rules)}"
    )
    text = [f"{_label(a)} → {_label(b)}<br>lift {float(lift):.2f}" for _, _, lift, a, b in rows]
    fig = go.Figure(go.Scatter(
        x=[float(r[0]) for r in rows], y=[float(r[1]) for r in rows], mode="markers", text=text,
        hovertemplate="%{text}<br>support %{x:.4f}<br>confidence %{y:.2f}<extra></extra>",
        marker={"color": [float(r[2]) for r in rows], "colorscale": "Viridis", "showscale": True,
                "colorbar": {"title": {"text": "lift"}}, "size": 9, "opacity": 0.8},
    ))
    return layout(fig, xaxis_title="support (share of baskets)", yaxis_title="confidence")


def chart_recommendations(marts: Marts, settings: Settings) -> go.Figure:
    table = "cross_sell_recommendations"
    c = marts.require(table, "recommended")
    who = marts.optional(table, "customer")
    counted = f"count(distinct {quote_ident(who['customer'])})" if "customer" in who else "count(*)"
    rows = marts.rows(table,
        f"select cast({quote_ident(c['recommended'])} as varchar) as item, {counted} as n from {quote_ident(table)} "  # noqa: S608 - quoted identifiers
        "group by 1 order by n desc, item limit 20"
    )
    rows = list(reversed(rows))
    fig = go.Figure(go.Bar(x=[r[1] for r in rows], y=[_label(r[0]) for r in rows], orientation="h",
                           marker_color="#2a6f97"))
    return layout(fig, xaxis_title="customers offered", yaxis_title=None, height=max(420, 22 * len(rows) + 120))


def chart_cohorts(marts: Marts, settings: Settings) -> go.Figure:
    table = "cohort_retention"
    c = marts.require(table, "cohort", "period", "retention")
    rows = marts.rows(table,
        f"select cast({quote_ident(c['cohort'])} as varchar), {quote_ident(c['period'])}, {quote_ident(c['retention'])} "  # noqa: S608 - quoted identifiers
        f"from {quote_ident(table)} where {quote_ident(c['period'])} is not null order by 1, 2"
    )
    cohorts = sorted({r[0] for r in rows})
    periods = sorted({int(r[1]) for r in rows})
    scale = 100.0 if max(float(r[2] or 0) for r in rows) <= 1.0 else 1.0
    cell = {(r[0], int(r[1])): (None if r[2] is None else round(float(r[2]) * scale, 1)) for r in rows}
    z = [[cell.get((co, p)) for p in periods] for co in cohorts]
    fig = go.Figure(go.Heatmap(
        z=z, x=periods, y=cohorts, colorscale="Blues", zmin=0, zmax=100, colorbar={"title": {"text": "% retained"}},
        hovertemplate="cohort %{y}<br>month %{x}<br>%{z:.1f}% retained<extra></extra>",
    ))
    return layout(fig, xaxis_title="months since first purchase", yaxis_title="cohort (first purchase month)",
                   yaxis={"autorange": "reversed", "type": "category"}, height=max(420, 18 * len(cohorts) + 140))


def chart_risk_by_segment(marts: Marts, settings: Settings) -> go.Figure:
    table = "customer_retention"
    c = marts.require(table, "rfm_segment", "risk")
    rows = marts.rows(table,
        f"select cast({quote_ident(c['rfm_segment'])} as varchar), avg({quote_ident(c['risk'])}), count(*) from {quote_ident(table)} "  # noqa: S608 - quoted identifiers
        f"where {quote_ident(c['risk'])} is not null group by 1 order by 2 desc"
    )
    fig = go.Figure(go.Bar(
        x=[_label(r[0]) for r in rows], y=[float(r[1]) for r in rows], customdata=[r[2] for r in rows],
        marker_color=sample_colorscale("Reds", [0.25 + 0.75 * v for v in _unit([float(r[1]) for r in rows])]),
        hovertemplate="%{x}<br>mean risk %{y:.2f}<br>%{customdata} customers<extra></extra>",
    ))
    return layout(fig, xaxis_title="RFM segment", yaxis_title="mean churn risk score")


def chart_churn_trend(marts: Marts, settings: Settings) -> go.Figure:
    table = "churn_by_segment"
    c = marts.require(table, "churn_month", "churn_rate")
    extra = marts.optional(table, "churn_dimension", "churn_value")
    series = quote_ident(extra["churn_value"]) if "churn_value" in extra else "'all customers'"
    where = ""
    if "churn_dimension" in extra:
        assert marts.con is not None
        dims = [r[0] for r in marts.con.execute(
            f"select distinct cast({quote_ident(extra['churn_dimension'])} as varchar) from {quote_ident(table)} order by 1"  # noqa: S608 - quoted identifiers
        ).fetchall()]
        preferred = next((d for d in CHURN_DIMENSION_PREFERENCE if d in dims), None)
        if preferred is None:
            preferred = next((d for d in dims if d and "segment" in d.lower()), dims[0] if dims else None)
        if preferred is not None:
            where = f" where cast({quote_ident(extra['churn_dimension'])} as varchar) = '{preferred.replace(chr(39), chr(39) * 2)}'"
    rows = marts.rows(table,
        f"select cast({series} as varchar), cast({quote_ident(c['churn_month'])} as varchar), avg({quote_ident(c['churn_rate'])}) "  # noqa: S608 - quoted identifiers
        f"from {quote_ident(table)}{where} group by 1, 2 order by 1, 2"
    )
    scale = 100.0 if max(float(r[2] or 0) for r in rows) <= 1.0 else 1.0
    fig = go.Figure()
    for name in sorted({r[0] for r in rows}, key=str):
        points = [r for r in rows if r[0] == name]
        fig.add_trace(go.Scatter(x=[p[1] for p in points], y=[None if p[2] is None else float(p[2]) * scale for p in points],
                                 mode="lines+markers", name=_label(name)))
    return layout(fig, xaxis_title="month", yaxis_title="churn rate (%)", legend={"orientation": "h", "y": -0.25})


def chart_rfm_sizes(marts: Marts, settings: Settings) -> go.Figure:
    table = "customer_retention"
    c = marts.require(table, "rfm_segment")
    rows = marts.rows(table,
        f"select cast({quote_ident(c['rfm_segment'])} as varchar), count(*) from {quote_ident(table)} group by 1"  # noqa: S608 - quoted identifiers
    )
    order = {name: i for i, name in enumerate(RFM_ORDER)}
    rows.sort(key=lambda r: (order.get(r[0], len(order)), str(r[0])))
    fig = go.Figure(go.Bar(x=[_label(r[0]) for r in rows], y=[r[1] for r in rows], marker_color="#468faf",
                           text=[r[1] for r in rows], textposition="outside"))
    return layout(fig, xaxis_title="RFM segment", yaxis_title="customers")


def chart_lifecycle(marts: Marts, settings: Settings) -> go.Figure:
    table = "customer_retention"
    c = marts.require(table, "lifecycle")
    rows = marts.rows(table,
        f"select cast({quote_ident(c['lifecycle'])} as varchar), count(*) from {quote_ident(table)} group by 1"  # noqa: S608 - quoted identifiers
    )
    counts = {str(r[0]).lower(): (r[0], r[1]) for r in rows}
    for stage in LIFECYCLE_ORDER:  # every stage shows, even when no customer is in it
        counts.setdefault(stage, (stage, 0))
    order = {name: i for i, name in enumerate(LIFECYCLE_ORDER)}
    ordered = sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    fig = go.Figure(go.Funnel(y=[_label(v[0]) for _, v in ordered], x=[v[1] for _, v in ordered],
                              textinfo="value+percent total", marker={"color": "#01497c"}))
    return layout(fig)


RECOMMENDER_CARD_COLUMNS: tuple[str, ...] = (
    "recommender", "hit_rate", "hit_rate_ci_low", "hit_rate_ci_high", "precision_at_k", "recall_at_k",
    "customer_coverage", "catalogue_coverage", "top3_offer_share", "hit_rate_vs_popularity", "k",
    "customers_evaluated", "holdout_start", "holdout_end")


def _recommender_card_rows(marts: Marts) -> list[tuple[Any, ...]]:
    table = "recommender_card"
    present = marts._columns.get(table)
    if present is None:
        raise MissingData(f"marts.{table} is not published yet (crmwh evaluate, or an analytics run)")
    missing = [c for c in RECOMMENDER_CARD_COLUMNS if c not in present]
    if missing:
        raise MissingData(f"marts.{table} has no column {', '.join(missing)}")
    cols = ", ".join(quote_ident(present[c]) for c in RECOMMENDER_CARD_COLUMNS)
    return marts.rows(table, f"select {cols} from {quote_ident(table)} order by is_published desc, recommender")  # noqa: S608


def chart_recommender_card(marts: Marts, settings: Settings) -> go.Figure:
    """Hit rate@k of the published recommender and its baselines, with the bootstrap intervals."""
    rows = _recommender_card_rows(marts)
    names = [str(r[0]) for r in rows]
    hit = [float(r[1]) for r in rows]
    fig = go.Figure(go.Bar(
        x=names, y=hit, marker_color=["#01497c" if i == 0 else "#89c2d9" for i in range(len(rows))],
        error_y={"type": "data", "symmetric": False, "array": [float(r[3]) - float(r[1]) for r in rows],
                 "arrayminus": [float(r[1]) - float(r[2]) for r in rows]},
        text=[f"{h:.1%}" for h in hit], textposition="inside", insidetextanchor="middle",
        hovertemplate="%{x}: hit rate %{y:.3f}<extra></extra>"))
    k = rows[0][10]
    return layout(fig, yaxis_title=f"hit rate@{k} (95% bootstrap interval)", yaxis_tickformat=".0%")


def table_recommender_card(marts: Marts, settings: Settings) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    rows = _recommender_card_rows(marts)
    first = rows[0]
    header = ("recommender", f"hit rate@{first[10]} (95% CI)", "precision", "recall", "customers",
              "catalogue", "top-3 share", "vs popularity")
    return header, [(r[0], f"{float(r[1]):.3f} ({float(r[2]):.3f}-{float(r[3]):.3f})", f"{float(r[4]):.3f}",
                     f"{float(r[5]):.3f}", f"{float(r[6]):.0%}", f"{float(r[7]):.0%}", f"{float(r[8]):.0%}",
                     f"{float(r[9]):.2f}x") for r in rows]


ChartFn = Callable[[Marts, Settings], go.Figure]


def chart_model_card(marts: Marts, settings: Settings) -> go.Figure:
    """Out-of-time ROC AUC of the published churn model and its baselines, with bootstrap intervals."""
    table = "model_card"
    cols = marts.require(table, "card_model", "card_scope", "card_auc", "card_auc_low", "card_auc_high")
    rows = marts.rows(table,
        f"select {quote_ident(cols['card_model'])}, {quote_ident(cols['card_scope'])}, {quote_ident(cols['card_auc'])}, "  # noqa: S608 - quoted identifiers
        f"{quote_ident(cols['card_auc_low'])}, {quote_ident(cols['card_auc_high'])} from {quote_ident(table)} "
        f"where {quote_ident(cols['card_auc'])} is not null order by 2, 1")
    fig = go.Figure()
    for scope in sorted({r[1] for r in rows}, key=lambda x: (x == "pooled", x)):
        part = [r for r in rows if r[1] == scope]
        fig.add_trace(go.Bar(
            name=str(scope), x=[str(r[0]) for r in part], y=[float(r[2]) for r in part],
            error_y={"type": "data", "symmetric": False, "array": [float(r[4]) - float(r[2]) for r in part],
                     "arrayminus": [float(r[2]) - float(r[3]) for r in part]},
            hovertemplate="%{x} at %{fullData.name}<br>ROC AUC %{y:.3f}<extra></extra>"))
    return layout(fig, barmode="group", xaxis_title="model", yaxis_title="out-of-time ROC AUC (95% interval)",
                   yaxis_range=[0.5, 1.0], legend_title_text="test date")


def table_model_card(marts: Marts, settings: Settings) -> tuple[tuple[str, ...], list[tuple[Any, ...]]] | None:
    """The pooled card in words: each model's metrics and its difference to the published one."""
    table = "model_card"
    cols = marts.optional(table, "card_model", "card_scope", "card_auc", "card_auc_low", "card_auc_high",
                          "card_role", "card_diff", "card_diff_low", "card_diff_high", "card_brier", "card_lift")
    if len(cols) < 11:
        return None
    rows = marts.rows(table,
        f"select {', '.join(quote_ident(cols[k]) for k in ('card_model', 'card_role', 'card_auc', 'card_auc_low', 'card_auc_high', 'card_diff', 'card_diff_low', 'card_diff_high', 'card_brier', 'card_lift'))} "  # noqa: S608,E501 - quoted identifiers
        f"from {quote_ident(table)} where {quote_ident(cols['card_scope'])} = 'pooled' order by {quote_ident(cols['card_auc'])} desc nulls last")

    def num(x: Any, fmt: str = "{:.3f}") -> str:
        return "" if x is None else fmt.format(float(x))

    return (("model", "role", "ROC AUC [95%]", "vs published [95%]", "Brier", "top-decile lift"),
            [(m, role, f"{num(a)} [{num(lo)}, {num(hi)}]", f"{num(d, '{:+.3f}')} [{num(dl, '{:+.3f}')}, {num(dh, '{:+.3f}')}]",
              num(b), num(lift, "{:.2f}")) for m, role, a, lo, hi, d, dl, dh, b, lift in rows])


def chart_retention_bands(marts: Marts, settings: Settings) -> go.Figure:
    """Active customers and value at risk per risk band (bands by capacity), and the win-back list's size."""
    table = "customer_retention"
    cols = marts.require(table, "risk_band", "value_at_risk")
    rows = marts.rows(table,
        f"select {quote_ident(cols['risk_band'])}, count(*), sum({quote_ident(cols['value_at_risk'])}) from {quote_ident(table)} "  # noqa: S608 - quoted identifiers
        f"where {quote_ident(cols['risk_band'])} is not null group by 1")
    order = {"high": 0, "medium": 1, "low": 2}
    rows = sorted(rows, key=lambda r: order.get(str(r[0]), 9))
    fig = go.Figure([
        go.Bar(name="customers", x=[str(r[0]) for r in rows], y=[int(r[1]) for r in rows], yaxis="y",
               offsetgroup=0, marker_color="#2a6f97"),
        go.Bar(name="value at risk", x=[str(r[0]) for r in rows], y=[float(r[2] or 0) for r in rows], yaxis="y2",
               offsetgroup=1, marker_color="#c1121f")])
    if marts.optional("customer_winback", "customer"):
        assert marts.con is not None
        (n,) = marts.con.execute(f"select count(*) from {quote_ident('customer_winback')}").fetchone()  # noqa: S608
        fig.add_annotation(text=f"win-back list (lapsed, not ranked here): {n} customers", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=1.08)
    return layout(fig, barmode="group", xaxis_title="risk band (by rank among active customers)",
                   yaxis={"title": {"text": "active customers"}},
                   yaxis2={"title": {"text": "value at risk (12 months)"}, "overlaying": "y", "side": "right"})


def table_retention_top(marts: Marts, settings: Settings) -> tuple[tuple[str, ...], list[tuple[Any, ...]]] | None:
    """The first ten customers of the retention list (by value at risk) with what to do."""
    table = "customer_retention"
    cols = marts.optional(table, "customer", "risk", "risk_band", "value_at_risk", "retention_rank", "action", "offer")
    if len(cols) < 7:
        return None
    rows = marts.rows(table,
        f"select {', '.join(quote_ident(cols[k]) for k in ('customer', 'risk', 'risk_band', 'value_at_risk', 'action', 'offer'))} "  # noqa: S608,E501 - quoted identifiers
        f"from {quote_ident(table)} order by {quote_ident(cols['retention_rank'])} limit 10")
    return (("customer", "risk", "band", "value at risk", "action", "offer"),
            [(c, f"{float(r):.0%}" if r is not None else "", b or "", f"{float(v or 0):,.0f}", a, o or "")
             for c, r, b, v, a, o in rows])


CHARTS: tuple[tuple[str, str, str, ChartFn], ...] = (
    ("cross_sell_rules", "Top cross-sell rules",
     "Support (how often the items are bought together) against confidence (how often the offer follows), "
     "coloured by lift; the strongest rules by lift. Hover for the items.", chart_rules),
    ("recommendation_counts", "Cross-sell offers by product",
     "How many customers each product is recommended to (top 20).", chart_recommendations),
    ("cohort_retention", "Cohort retention",
     "Share of each first-purchase cohort still buying N months later.", chart_cohorts),
    ("churn_risk_by_segment", "Churn risk by segment",
     "Mean churn risk score of the customers in each RFM segment.", chart_risk_by_segment),
    ("churn_trend", "Monthly churn rate by segment",
     "Churn rate per month for each segment.", chart_churn_trend),
    ("rfm_segment_sizes", "RFM segment sizes", "Customers per RFM segment.", chart_rfm_sizes),
    ("lifecycle_funnel", "Lifecycle funnel",
     "Customers per lifecycle stage: exploration, formation, stability, decline.", chart_lifecycle),
    ("recommender_card", "Recommender card: do the cross-sell offers beat the most popular products?",
     "Out-of-time backtest of the published offers (marts.recommender_card): share of customers who bought one "
     "of their offers in the holdout, against the most popular products they had not bought and co-purchase "
     "alone, on the same customers.", chart_recommender_card),
    ("churn_model_card", "Churn model card",
     "Out-of-time ROC AUC of the published churn risk and its baselines (days since last purchase, BG/NBD, "
     "gradient boosting) on the same customers at each test date, with 95% bootstrap intervals.", chart_model_card),
    ("retention_bands", "Retention list by risk band",
     "Active customers and 12-month value at risk per band; bands follow capacity (top shares of the ranking). "
     "The table is the top of the list, ordered by value at risk.", chart_retention_bands),
)


def table_top_rules(marts: Marts, settings: Settings) -> tuple[tuple[str, ...], list[tuple[Any, ...]]] | None:
    """The ten strongest overall rules in words, for the marketer who does not hover."""
    table = "cross_sell_rules"
    c = marts.require(table, "support", "confidence", "lift")
    names = marts.optional(table, "antecedent", "consequent")
    if len(names) < 2:
        return None
    where = _overall_filter(marts, table, ("rule_segment_dimension", "rule_segment", "rule_window"))
    rows = marts.rows(table,
        f"select {quote_ident(names['antecedent'])}, {quote_ident(names['consequent'])}, {quote_ident(c['confidence'])}, {quote_ident(c['lift'])}, "  # noqa: S608 - quoted identifiers
        f"{quote_ident(c['support'])} from {quote_ident(table)}{where} "
        f"order by {quote_ident(c['lift'])} desc nulls last, {quote_ident(c['confidence'])} desc limit 10"
    )
    return (("customers who buy", "are offered", "confidence", "lift", "support"),
            [(_label(a), _label(b), f"{float(conf):.0%}", f"{float(lift):.1f}", f"{float(sup):.2%}")
             for a, b, conf, lift, sup in rows])


TableFn = Callable[[Marts, Settings], tuple[tuple[str, ...], list[tuple[Any, ...]]] | None]
TABLES: dict[str, TableFn] = {"cross_sell_rules": table_top_rules, "recommender_card": table_recommender_card,
                              "churn_model_card": table_model_card, "retention_bands": table_retention_top,
                              **SERVICES_TABLES}


def build_panels(con: duckdb.DuckDBPyConnection | None, settings: Settings) -> list[Panel]:
    """One panel per chart: a figure, or the reason it has no data yet."""
    marts = Marts(con)
    panels = []
    # the services agency's panels join when its marts are published with rows (warehouse/serve/report_services.py)
    for key, title, description, fn in (*CHARTS, *services_charts(marts)):
        try:
            figure = fn(marts, settings)
            table = TABLES[key](marts, settings) if key in TABLES else None
            panels.append(Panel(key, title, description, figure=figure, table=table))
        except MissingData as exc:
            panels.append(Panel(key, title, description, missing=str(exc)))
        except (duckdb.Error, ValueError, TypeError) as exc:  # odd types in a mart: say so, keep the report
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("report chart %s not drawn: %s", key, first)
            panels.append(Panel(key, title, description, missing=f"could not draw this chart from the mart: {first}"))
    return panels


# HTML -------------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1b263b;
       background: #f4f6f8; }
header { background: #01497c; color: white; padding: 18px 32px; }
header h1 { margin: 0 0 6px 0; font-size: 24px; }
header p { margin: 2px 0; opacity: 0.9; }
main { padding: 16px 32px; display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 18px; }
section.panel { background: white; border-radius: 8px; padding: 14px 18px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
section.panel h2 { font-size: 18px; margin: 0 0 4px 0; }
section.panel p.desc { margin: 0 0 8px 0; color: #555; font-size: 14px; }
div.no-data { height: 220px; display: flex; align-items: center; justify-content: center; flex-direction: column;
              border: 2px dashed #c5ccd3; border-radius: 8px; color: #6c757d; text-align: center; padding: 12px; }
div.no-data strong { font-size: 20px; margin-bottom: 6px; }
footer { padding: 8px 32px 32px 32px; }
table.meta { border-collapse: collapse; font-size: 13px; background: white; }
table.meta td, table.meta th { border: 1px solid #dde2e6; padding: 3px 8px; text-align: left; vertical-align: top; }
details { margin: 12px 0; }
table.top { width: 100%; margin-top: 8px; }
"""


def _manifest_info(con: duckdb.DuckDBPyConnection | None) -> dict[str, Any]:
    if con is None:
        return {}
    try:
        rows = con.execute(
            f"select run_id, version, published_at, validation_status, data_interval_start, data_interval_end, "  # noqa: S608 - constant name
            f"table_name, row_count from {MANIFEST_TABLE} order by table_name"
        ).fetchall()
    except duckdb.Error:
        return {}
    if not rows:
        return {}
    first = rows[0]
    return {"run_id": first[0], "version": first[1], "published_at": first[2], "validation_status": first[3],
            "interval": (first[4], first[5]), "row_counts": [(r[6], r[7]) for r in rows]}


def _dictionary(con: duckdb.DuckDBPyConnection | None) -> list[tuple[Any, ...]]:
    if con is None:
        return []
    try:
        return con.execute(
            f"select table_name, column_name, data_type, description, grain from {DICTIONARY_TABLE} "  # noqa: S608 - constant name
            "order by table_name, ordinal"
        ).fetchall()
    except duckdb.Error:
        return []


def render_html(panels: Sequence[Panel], info: dict[str, Any], dictionary: Sequence[tuple[Any, ...]],
                generated_at: datetime) -> str:
    esc = html.escape
    if info:
        start, end = info["interval"]
        interval = f"; data interval {esc(str(start))} to {esc(str(end))}" if start or end else ""
        subtitle = (f"Published version {esc(str(info['version']))} (run {esc(str(info['run_id']))}), "
                    f"published {esc(str(info['published_at']))} UTC{interval}; "
                    f"validation: {esc(str(info['validation_status']))}")
    else:
        subtitle = "Nothing is published yet: run the pipeline or `crmwh publish`, then `crmwh report` again."
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>CRM report: cross-sell and retention</title>", f"<style>{CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        "<header><h1>CRM report: cross-sell and retention</h1>",
        f"<p>{subtitle}</p><p>Generated {generated_at:%Y-%m-%d %H:%M} UTC from the published marts.</p></header>",
        "<main>",
    ]
    config = {"displaylogo": False, "responsive": True}
    for panel in panels:
        status = "chart" if panel.figure is not None else "no-data"
        parts.append(f'<section class="panel" id="{esc(panel.key)}" data-chart="{esc(panel.key)}" '
                     f'data-status="{status}"><h2>{esc(panel.title)}</h2><p class="desc">{esc(panel.description)}</p>')
        if panel.figure is not None:
            parts.append(panel.figure.to_html(full_html=False, include_plotlyjs=False, config=config,
                                              div_id=f"chart-{panel.key}"))
            if panel.table is not None:
                header, rows = panel.table
                parts.append("<table class='meta top'><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
                parts.extend("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>" for row in rows)
                parts.append("</table>")
        else:
            parts.append(f'<div class="no-data"><strong>No data yet</strong><span>{esc(panel.missing or "")}</span></div>')
        parts.append("</section>")
    parts.append("</main><footer>")
    if info:
        parts.append("<details><summary>Published tables and row counts</summary><table class='meta'>"
                     "<tr><th>table</th><th>rows</th></tr>")
        parts.extend(f"<tr><td>{esc(str(t))}</td><td>{n}</td></tr>" for t, n in info["row_counts"])
        parts.append("</table></details>")
    if dictionary:
        parts.append("<details><summary>Data dictionary</summary><table class='meta'><tr><th>table</th>"
                     "<th>column</th><th>type</th><th>description</th><th>grain</th></tr>")
        parts.extend("<tr>" + "".join(f"<td>{esc('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                     for row in dictionary)
        parts.append("</table></details>")
    parts.append("</footer></body></html>")
    return "\n".join(parts)


def build_report(settings: Settings) -> tuple[str, list[Panel]]:
    """The report's HTML and its panels, from the current published version (if any)."""
    con = None
    if settings.published_path.exists():
        from warehouse.serve.publish import open_published

        con = open_published(settings)
    try:
        panels = build_panels(con, settings)
        text = render_html(panels, _manifest_info(con), _dictionary(con), datetime.now(UTC))
    finally:
        if con is not None:
            con.close()
    return text, panels


def write_report(settings: Settings, out: Path | None = None) -> Path:
    """Write the report (atomically: a half-written file is never left at ``out``); returns its path."""
    target = Path(out) if out is not None else settings.reports_dir / REPORT_FILE_NAME
    target = target.expanduser().resolve()
    text, _ = build_report(settings)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(f"cannot write the report to {target}: {exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target

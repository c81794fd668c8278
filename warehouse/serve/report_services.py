"""The services agency's panels of the report: sales funnel, renewals due by week (with the renewal
model card), SLA attainment, and this week's care list by action and owner.

Each chart reads one published mart by its columns and raises ``MissingData`` (shown as "no data yet")
when the mart or a column it needs is not published. ``warehouse.serve.report`` shows each of these panels
after its own when the panel's mart is published with rows (``services_charts``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from warehouse.serve.report_marts import Marts, MissingData, layout

if TYPE_CHECKING:
    from warehouse.foundation.settings import Settings

FUNNEL_STEPS: tuple[tuple[str, str], ...] = (
    ("leads", "leads"), ("opportunities", "opportunities"), ("reached_qualified", "qualified"),
    ("reached_proposal", "proposal"), ("reached_negotiation", "negotiation"), ("won", "won"),
)
CARE_TABLE_ROWS = 30


def _need(marts: Marts, table: str, *columns: str) -> None:
    have = marts._columns.get(table)
    if have is None:
        raise MissingData(f"marts.{table} is not published yet")
    missing = [c for c in columns if c not in have]
    if missing:
        raise MissingData(f"marts.{table} has no column {', '.join(missing)}")


def chart_sales_funnel(marts: Marts, settings: Settings) -> go.Figure:
    _need(marts, "sales_funnel", *(c for c, _ in FUNNEL_STEPS))
    sums = ", ".join(f"sum({c})" for c, _ in FUNNEL_STEPS)
    (row,) = marts.rows("sales_funnel", f"select {sums} from sales_funnel")  # noqa: S608 - constant columns
    fig = go.Figure(go.Funnel(y=[label for _, label in FUNNEL_STEPS], x=[int(v or 0) for v in row],
                              textinfo="value+percent initial", marker={"color": "#2a6f97"}))
    return layout(fig)


def table_channel_conversion(marts: Marts, settings: Settings) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    _need(marts, "sales_funnel", "channel", "leads", "opportunities", "won", "lost", "open_pipeline_value")
    rows = marts.rows("sales_funnel", """
        select channel, sum(leads), sum(opportunities), sum(won), sum(won) / nullif(sum(leads), 0),
               sum(won) / nullif(sum(won) + sum(lost), 0), sum(open_pipeline_value)
        from sales_funnel group by 1 order by 5 desc nulls last""")
    return (("channel", "leads", "opportunities", "won", "lead to won", "win rate", "open pipeline"),
            [(c, int(n), int(o), int(w), f"{(r or 0):.1%}", f"{(wr or 0):.1%}", f"{float(v or 0):,.0f}")
             for c, n, o, w, r, wr, v in rows])


def chart_renewals_by_week(marts: Marts, settings: Settings) -> go.Figure:
    _need(marts, "contract_renewals", "end_date", "value_at_stake", "non_renewal_risk")
    rows = marts.rows("contract_renewals", """
        select strftime(date_trunc('week', end_date), '%Y-%m-%d') as week, count(*),
               sum(value_at_stake * (1 - coalesce(non_renewal_risk, 0))), sum(value_at_stake * coalesce(non_renewal_risk, 0))
        from contract_renewals group by 1 order by 1""")
    weeks = [r[0] for r in rows]
    fig = go.Figure([
        go.Bar(x=weeks, y=[float(r[2] or 0) for r in rows], name="expected to renew", marker_color="#2a9d8f",
               customdata=[r[1] for r in rows], hovertemplate="week of %{x}<br>%{customdata} contracts<br>"
                                                              "%{y:,.0f} expected to renew<extra></extra>"),
        go.Bar(x=weeks, y=[float(r[3] or 0) for r in rows], name="at risk (value x non-renewal risk)",
               marker_color="#e76f51", hovertemplate="week of %{x}<br>%{y:,.0f} at risk<extra></extra>"),
    ])
    fig.update_layout(barmode="stack")
    return layout(fig, xaxis_title="week the contracts end", yaxis_title="value at stake (a year of fees)",
                   legend={"orientation": "h", "y": -0.25})


def table_renewal_card(marts: Marts, settings: Settings) -> tuple[tuple[str, ...], list[tuple[Any, ...]]] | None:
    _need(marts, "renewal_model_card", "scorer", "roc_auc", "roc_auc_ci_low", "roc_auc_ci_high", "test_rows",
          "test_not_renewed")
    rows = marts.rows("renewal_model_card", """
        select scorer, status, roc_auc, roc_auc_ci_low, roc_auc_ci_high, pr_auc, test_rows, test_not_renewed,
               strftime(test_end_from, '%Y-%m-%d') || ' to ' || strftime(test_end_to, '%Y-%m-%d')
        from renewal_model_card order by role desc, scorer""")

    def fmt(v: Any) -> str:
        return "n/a" if v is None else f"{float(v):.3f}"

    return (("scorer (out-of-time test)", "status", "ROC AUC", "95% interval", "PR AUC", "test contracts",
             "not renewed", "contracts ending"),
            [(s, st, fmt(a), f"{fmt(lo)} - {fmt(hi)}", fmt(pr), n, k, w) for s, st, a, lo, hi, pr, n, k, w in rows])


def chart_sla_attainment(marts: Marts, settings: Settings) -> go.Figure:
    _need(marts, "service_sla", "service", "met", "missed", "due")
    rows = marts.rows("service_sla", """
        select service, sum(met) / nullif(sum(met) + sum(missed), 0), sum(due)
        from service_sla group by 1 order by 2 nulls last""")
    fig = go.Figure(go.Bar(
        x=[float(r[1] or 0) * 100 for r in rows], y=[str(r[0]) for r in rows], orientation="h",
        customdata=[int(r[2]) for r in rows], marker_color="#468faf",
        hovertemplate="%{y}<br>%{x:.1f}% on time<br>%{customdata} steps due<extra></extra>"))
    return layout(fig, xaxis_title="SLA attainment (% of steps done by their due time)", yaxis_title=None,
                   xaxis={"range": [0, 100]}, height=max(420, 26 * len(rows) + 120))


def table_sla_agents(marts: Marts, settings: Settings) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    _need(marts, "service_sla", "agent_id", "met", "missed", "due")
    rows = marts.rows("service_sla", """
        select agent_id, sum(due), sum(met) / nullif(sum(met) + sum(missed), 0), sum(open_overdue)
        from service_sla group by 1 having sum(due) >= 20 order by 3 nulls last limit 10""")
    return (("agent (lowest attainment first)", "due", "attainment", "open overdue"),
            [(a, int(d), f"{(r or 0):.1%}", int(o or 0)) for a, d, r, o in rows])


def chart_care_actions(marts: Marts, settings: Settings) -> go.Figure:
    _need(marts, "care_actions", "action_code", "owner_id")
    rows = marts.rows("care_actions",
                      "select owner_id, action_code, count(*) from care_actions group by 1, 2 order by 1, 2")
    owners = sorted({r[0] for r in rows})
    fig = go.Figure()
    for action in sorted({r[1] for r in rows}):
        counts = {r[0]: r[2] for r in rows if r[1] == action}
        fig.add_trace(go.Bar(x=owners, y=[counts.get(o, 0) for o in owners], name=action))
    fig.update_layout(barmode="stack")
    return layout(fig, xaxis_title="owner (employee id)", yaxis_title="actions this week",
                   legend={"orientation": "h", "y": -0.3})


def table_care_actions(marts: Marts, settings: Settings) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    _need(marts, "care_actions", "customer_id", "action", "reason", "due_date", "owner_id", "offer_product_name")
    rows = marts.rows("care_actions", f"""
        select strftime(due_date, '%Y-%m-%d'), owner_id, customer_id, action, reason,
               coalesce(offer_product_name, '')
        from care_actions order by priority, value_at_stake desc nulls last, due_date, customer_id
        limit {CARE_TABLE_ROWS}""")  # noqa: S608 - a constant limit
    return (("due", "owner", "customer", "action", "why", "offer"), [tuple(str(v) for v in r) for r in rows])


SERVICES_CHARTS: tuple[tuple[str, str, str, Callable[..., go.Figure]], ...] = (
    ("sales_funnel", "Sales funnel",
     "Leads and the opportunities that reached each stage (a skipped stage counts as passed), all channels; "
     "the table gives each channel's conversion.", chart_sales_funnel),
    ("renewals_by_week", "Contract renewals due by week",
     "Contracts ending in the next 90 days by week: a year of fees expected to renew and at risk "
     "(renewal model, tested out of time: see the card below).", chart_renewals_by_week),
    ("service_sla", "SLA attainment by service",
     "Share of process steps (and tickets' first responses) done by their due time; the agents with the "
     "lowest attainment below.", chart_sla_attainment),
    ("care_actions", "This week's care actions by owner",
     "The weekly care scan: actions per owner and rule; the first actions of the list below.", chart_care_actions),
)
PANEL_MARTS: dict[str, str] = {"sales_funnel": "sales_funnel", "renewals_by_week": "contract_renewals",
                               "service_sla": "service_sla", "care_actions": "care_actions"}


def services_charts(marts: Marts) -> tuple[tuple[str, str, str, Callable[..., go.Figure]], ...]:
    """The services panels whose mart is published with rows: a shop's report shows the ticket SLA and
    its care list (complaint follow-ups, anniversaries, value at risk) and no empty funnel or renewals."""
    if marts.con is None:
        return ()
    shown = []
    for panel in SERVICES_CHARTS:
        table = PANEL_MARTS[panel[0]]
        if table in marts._columns and marts.con.execute(f"select exists (select 1 from {table})").fetchall()[0][0]:  # noqa: S608
            shown.append(panel)
    return tuple(shown)


SERVICES_TABLES: dict[str, Callable[..., Any]] = {
    "sales_funnel": table_channel_conversion, "renewals_by_week": table_renewal_card,
    "service_sla": table_sla_agents, "care_actions": table_care_actions,
}

"""Small, commented marts in a working warehouse, shaped like the real ones, for publish/report tests.

``scale`` changes every table's row count, so tests can tell one published version from another.
"""

from __future__ import annotations

import duckdb

SEGMENTS = ("Champions", "Loyal", "Potential Loyalist", "New", "At Risk", "Can't Lose", "Hibernating", "Lost")
STAGES = ("exploration", "formation", "stability", "decline")

MARTS_SQL = {
    "cross_sell_rules": (
        """
        create or replace table marts.cross_sell_rules as
        select 'R' || lpad(cast(i as varchar), 4, '0') as rule_id,
               ['P' || lpad(cast(i % 17 as varchar), 3, '0')] as antecedent_ids,
               ['Product ' || cast(i % 17 as varchar)] as antecedent_names,
               'P' || lpad(cast((i * 7) % 19 as varchar), 3, '0') as consequent_id,
               'Product ' || cast((i * 7) % 19 as varchar) as consequent_names,
               0.002 + (i % 13) / 500.0 as support,
               0.2 + (i % 9) / 12.0 as confidence,
               1.0 + (i % 11) / 3.0 as lift,
               case when i % 4 = 0 then 'segment' else 'all' end as segment_dimension,
               case when i % 4 = 0 then 'vip' else 'all' end as segment_value,
               case when i % 5 = 0 then 'current' else 'all' end as window_name
        from range({n_rules}) t(i)
        """,
        "grain: one row per rule per segment; cross-sell rules with their metrics",
        {"rule_id": "rule id", "antecedent_ids": "products already bought (ids)",
         "antecedent_names": "products already bought (names)", "consequent_id": "product to offer (id)",
         "consequent_names": "product to offer (name)", "support": "share of baskets holding all items",
         "confidence": "share of antecedent baskets that also hold the consequent",
         "lift": "confidence over the base rate of the consequent",
         "segment_dimension": "customer attribute split on, or all", "segment_value": "its value, or all",
         "window_name": "all, current or previous"},
    ),
    "cross_sell_recommendations": (
        """
        create or replace table marts.cross_sell_recommendations as
        select 'C' || lpad(cast(i // 3 as varchar), 6, '0') as customer_id, i % 3 + 1 as recommendation_rank,
               'P' || lpad(cast((i * 5) % 23 as varchar), 3, '0') as product_id,
               'Product ' || cast((i * 5) % 23 as varchar) as product_name,
               0.9 - (i % 3) / 10.0 as score,
               'bought Product ' || cast(i % 17 as varchar) || '; 4 of 10 such baskets add it' as reason
        from range({n_recs}) t(i)
        """,
        "grain: one row per customer per recommended product; top cross-sell offers per customer",
        {"customer_id": "customer business id", "recommendation_rank": "1 = best offer", "product_id": "product id",
         "product_name": "product name", "score": "offer score from the rules",
         "reason": "why, in one line"},
    ),
    "cohort_retention": (
        """
        create or replace table marts.cohort_retention as
        select strftime(date '2025-01-01' + to_months(c), '%Y-%m') as cohort_month,
               m as months_since_first_purchase,
               cast(100 - 6 * m as bigint) as customers_active,
               round(greatest(0.05, 1.0 - 0.07 * m - 0.01 * c), 4) as retention_rate,
               round(1000.0 * greatest(0.05, 1.0 - 0.07 * m), 2) as revenue_retained
        from range({n_cohorts}) a(c), range(12) b(m)
        where c + m < {n_cohorts}
        """,
        "grain: one row per acquisition month per month since first purchase; cohort retention",
        {"cohort_month": "month of first purchase", "months_since_first_purchase": "0 = acquisition month",
         "customers_active": "cohort customers buying that month", "retention_rate": "active over cohort size",
         "revenue_retained": "revenue of the cohort that month"},
    ),
    "customer_retention": (
        """
        create or replace table marts.customer_retention as
        select 'C' || lpad(cast(i as varchar), 6, '0') as customer_id,
               round((i * 37 % 100) / 100.0, 2) as risk_score,
               case when i * 37 % 100 < 30 then 'low' when i * 37 % 100 < 60 then 'medium' else 'high' end as risk_band,
               '4 complaints in 90 days' as reasons,
               {segments}[i % 8 + 1] as rfm_segment,
               {stages}[least(4, i % 7 // 2 + 1)] as lifecycle_stage,
               'E' || lpad(cast(i % 5 as varchar), 4, '0') as sales_rep_id,
               round((i * 37 % 100) * (i % 13 + 1) / 10.0, 2) as value_at_risk,
               row_number() over (order by (i * 37 % 100) * (i % 13 + 1) desc, i) as retention_rank,
               'send the retention offer now (email / WeChat)' as recommended_action,
               'Product ' || cast(i % 23 as varchar) as retention_offer
        from range({n_customers}) t(i)
        """,
        "grain: one row per customer; churn risk, segments and next action",
        {"customer_id": "customer business id", "risk_score": "churn probability in the next 90 days",
         "risk_band": "low, medium or high", "reasons": "top reasons behind the score",
         "rfm_segment": "RFM segment name", "lifecycle_stage": "exploration, formation, stability or decline",
         "sales_rep_id": "assigned sales rep (employee business id)",
         "value_at_risk": "risk x value if retained", "retention_rank": "1 = most value at risk",
         "recommended_action": "what to do", "retention_offer": "product to offer"},
    ),
    "model_card": (
        """
        create or replace table marts.model_card as
        select s as scope, m as model, case when m = 'dropout' then 'published' else 'baseline' end as role,
               0.6 + 0.05 * k + 0.01 * j as roc_auc, 0.58 + 0.05 * k + 0.01 * j as roc_auc_ci_low,
               0.62 + 0.05 * k + 0.01 * j as roc_auc_ci_high, 0.05 * k - 0.15 as roc_auc_diff_vs_published,
               0.05 * k - 0.17 as roc_auc_diff_ci_low, 0.05 * k - 0.13 as roc_auc_diff_ci_high,
               0.2 - 0.01 * k as brier, 1.5 + 0.2 * k as top_decile_lift
        from (select unnest(['recency', 'bgnbd', 'gbm', 'dropout']) as m, unnest([0, 1, 2, 3]) as k),
             (select unnest(['2025-08-01', 'pooled']) as s, unnest([0, 1]) as j)
        """,
        "grain: one row per test origin (or pooled) per model; churn model card",
        {"scope": "test origin or pooled", "model": "model name", "role": "published, candidate or baseline",
         "roc_auc": "ROC AUC", "roc_auc_ci_low": "interval low", "roc_auc_ci_high": "interval high",
         "roc_auc_diff_vs_published": "difference to the published model", "roc_auc_diff_ci_low": "interval low",
         "roc_auc_diff_ci_high": "interval high", "brier": "Brier score", "top_decile_lift": "top-decile lift"},
    ),
    "churn_by_segment": (
        """
        create or replace table marts.churn_by_segment as
        select 'rfm_segment' as dimension, s as dimension_value,
               strftime(date '2025-06-01' + to_months(m), '%Y-%m') as month,
               round(0.05 + 0.02 * (len(s) % 5) + 0.01 * m, 4) as churn_rate, 50 + m as customers
        from unnest({segments}) u(s), range({n_months}) r(m)
        """,
        "grain: one row per dimension value per month; monthly churn rate by segment",
        {"dimension": "what the rows are split by", "dimension_value": "value of that dimension",
         "month": "snapshot month", "churn_rate": "share of active customers who churned",
         "customers": "active customers at the start of the month"},
    ),
    "recommender_card": (
        """
        create or replace table marts.recommender_card as
        select r as recommender, r = 'hybrid' as is_published, date '2025-11-01' as as_of,
               timestamp '2025-11-02' as holdout_start, timestamp '2026-01-01' as holdout_end, 5 as k,
               {n_customers} as customers_evaluated,
               h as hit_rate, h - 0.02 as hit_rate_ci_low, h + 0.02 as hit_rate_ci_high,
               h / 4 as precision_at_k, h / 3 as recall_at_k, 1.0 as customer_coverage,
               0.2 as catalogue_coverage, 0.4 - h / 2 as top3_offer_share, h / 0.34 as hit_rate_vs_popularity
        from (values ('hybrid', 0.48), ('popularity', 0.34), ('co_purchase', 0.37)) v(r, h)
        """,
        "grain: one row per recommender per backtest; the cross-sell offers against their baselines",
        {"recommender": "hybrid, popularity or co_purchase", "is_published": "the published recommender",
         "as_of": "training cut", "holdout_start": "holdout start", "holdout_end": "holdout end (exclusive)",
         "k": "offers scored", "customers_evaluated": "customers scored", "hit_rate": "hit rate at k",
         "hit_rate_ci_low": "2.5% bootstrap end", "hit_rate_ci_high": "97.5% bootstrap end",
         "precision_at_k": "precision at k", "recall_at_k": "recall at k",
         "customer_coverage": "share of active customers offered", "catalogue_coverage": "share of products offered",
         "top3_offer_share": "share of offers of the top 3 products",
         "hit_rate_vs_popularity": "hit rate over the popularity baseline"},
    ),
}


def create_sample_marts(con: duckdb.DuckDBPyConnection, scale: int = 1,
                        only: tuple[str, ...] | None = None) -> dict[str, int]:
    """Create (or replace) the sample marts with comments; returns their row counts."""
    con.execute("create schema if not exists marts")
    params = {
        "n_rules": 40 + 7 * scale, "n_recs": 60 + 9 * scale, "n_cohorts": 8 + scale,
        "n_customers": 200 + 11 * scale, "n_months": 6 + scale,
        "segments": "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in SEGMENTS) + "]",
        "stages": "[" + ", ".join(f"'{s}'" for s in STAGES) + "]",
    }
    counts = {}
    for table, (sql, table_comment, column_comments) in MARTS_SQL.items():
        if only is not None and table not in only:
            continue
        con.execute(sql.format(**params))
        con.execute(f"comment on table marts.{table} is '{table_comment}'")
        for column, text in column_comments.items():
            con.execute(f"comment on column marts.{table}.{column} is '{text}'")
        (counts[table],) = con.execute(f"select count(*) from marts.{table}").fetchone()
    return counts

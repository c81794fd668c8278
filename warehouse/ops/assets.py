"""Airflow Assets of the warehouse, declared once: ``crm_ingest`` emits them, ``crm_analytics`` is
scheduled on them. Declarations (the only I/O: reading the SQL model headers), safe to import while a DAG
file is parsed."""

from __future__ import annotations

from airflow.sdk import Asset

from warehouse.core.model_spec import model_tables

ASSET_URI_PREFIX = "crmwh://warehouse/"


def core_asset(table: str) -> Asset:
    """The Asset of ``core.<table>`` in the working warehouse."""
    return Asset(name=f"core.{table}", uri=f"{ASSET_URI_PREFIX}core/{table}", group="crmwh_core")


# The core tables come from the headers of the SQL models in sql/core (``-- model: core.<table>``,
# warehouse/core/model_spec.py): a new model file is a new Asset. The dimensions built in Python without a
# model (the date spine, the code dimensions, the SLA file as a table) are listed here.
PYTHON_DIMENSIONS: tuple[str, ...] = ("dim_date", "dim_channel", "dim_ticket_type", "dim_ticket_status",
                                      "dim_service_step")
CORE_DIMENSIONS: tuple[str, ...] = PYTHON_DIMENSIONS + model_tables("core", "dim_")
CORE_FACTS: tuple[str, ...] = model_tables("core", "fct_")

DIMENSION_ASSETS: dict[str, Asset] = {t: core_asset(t) for t in CORE_DIMENSIONS}
FACT_ASSETS: dict[str, Asset] = {t: core_asset(t) for t in CORE_FACTS}
CORE_ASSETS: dict[str, Asset] = {**DIMENSION_ASSETS, **FACT_ASSETS}

# What analytics waits for: the facts are written last, after every dimension of the same run.
FCT_SALES_LINE = FACT_ASSETS["fct_sales_line"]
FCT_SERVICE_TICKET = FACT_ASSETS["fct_service_ticket"]
FCT_INTERACTION = FACT_ASSETS["fct_interaction"]
FCT_PAYMENT = FACT_ASSETS["fct_payment"]
DIM_CUSTOMER = DIMENSION_ASSETS["dim_customer"]
DIM_PRODUCT = DIMENSION_ASSETS["dim_product"]
# What the weekly care scan (crm_care) also runs on: any update of the facts it reads.
SERVICES_FACT_ASSETS: tuple[Asset, ...] = tuple(FACT_ASSETS[t] for t in (
    "fct_contract", "fct_service_step", "fct_service_ticket", "fct_sales_line", "fct_lead", "fct_opportunity"))

# Published marts (the read-only file BI tools read): ``crm_analytics``'s publish task emits them.
PUBLISHED_URI_PREFIX = "crmwh://published/"
PUBLISHED_MARTS: tuple[str, ...] = (
    "cross_sell_rules", "cross_sell_recommendations", "product_affinity",
    "customer_retention", "cohort_retention", "churn_by_segment",
    "sales_funnel", "contract_renewals", "renewal_model_card", "service_sla", "care_actions",
    "data_dictionary", "publish_manifest",
)


def published_asset(table: str) -> Asset:
    """The Asset of ``marts.<table>`` in the published (read-only) marts file."""
    return Asset(name=f"published.{table}", uri=f"{PUBLISHED_URI_PREFIX}marts/{table}", group="crmwh_published")


PUBLISHED_ASSETS: dict[str, Asset] = {t: published_asset(t) for t in PUBLISHED_MARTS}

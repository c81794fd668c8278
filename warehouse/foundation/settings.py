"""One settings object for the whole project.

Values come, in increasing priority, from the defaults below, an optional TOML file, environment
variables with the ``CRMWH_`` prefix and the keyword overrides of ``load_settings``. Nested values use a
double underscore in the environment: ``CRMWH_MINING__MIN_SUPPORT=0.01`` sets
``settings.mining.min_support``; a tuple is a comma-separated list (``CRMWH_CHURN__ABC_BANDS=0.7,0.95``).

The TOML file is ``$CRMWH_CONFIG`` if set, else ``crmwh.toml`` in the working directory, else
``crmwh.toml`` in the data directory. Every module reads paths and thresholds from here; nothing else
hard-codes them.

The loading is pydantic-settings': ``Settings`` is a ``BaseSettings`` (environment source with the
``CRMWH_`` prefix and ``__`` nesting, a TOML source, the init keywords), each group a frozen pydantic
model declared once with its defaults. An unknown setting (in the file or a ``CRMWH_`` variable) or a
value of the wrong type is a ``SettingsError`` with one line naming the setting. Settings are frozen:
``settings.model_copy(update={"mining": settings.mining.model_copy(update={"engine": "mlxtend"})})``
derives a changed copy (``replace_settings`` does that, validated).
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as _SourceError
from pydantic_settings.sources.utils import parse_env_vars

if TYPE_CHECKING:
    from transforms.association_params import MiningParams

ENV_PREFIX = "CRMWH_"
# CRMWH_ variables that are not settings: the config file's path and the test suite's PostgreSQL URL.
ENV_NOT_SETTINGS = frozenset({"CONFIG", "TEST_PG_URL", "DEBUG"})  # CRMWH_DEBUG=1: tracebacks in the CLI
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
DAGS_DIR = PROJECT_ROOT / "dags"


class SettingsError(ValueError):
    """A setting is missing, unknown or of the wrong type."""


def _comma_list(value: Any) -> Any:
    """A tuple setting given as text (an environment variable) is a comma-separated list."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(","))
    return value


# Tuple settings: comma-separated in the environment (NoDecode: not JSON), arrays in TOML.
StrTuple = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)]
FloatPair = Annotated[tuple[float, float], NoDecode, BeforeValidator(_comma_list)]
FloatTriple = Annotated[tuple[float, float, float], NoDecode, BeforeValidator(_comma_list)]


class _Group(BaseModel):
    """A group of settings (one TOML table, one ``CRMWH_<GROUP>__`` prefix): frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True, protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _dates_as_text(cls, data: Any) -> Any:
        """A TOML date or time given for a text setting (``end_date = 2025-12-31``) is its ISO text."""
        if isinstance(data, dict):
            return {k: str(v) if isinstance(v, dt.date | dt.time) and cls.model_fields.get(k) is not None
                    and cls.model_fields[k].annotation in (str, "str") else v for k, v in data.items()}
        return data


class IngestSettings(_Group):
    """Extraction and loading."""

    # Watermark overlap for late commits: each incremental extract re-reads this many minutes.
    overlap_minutes: int = 60
    # Default source profile for file drops in the landing folder.
    default_file_profile: str = "canonical"
    # Rows per Arrow batch when reading a source.
    fetch_batch_rows: int = 200_000
    # The CRM's product codes are case-insensitive ("abc1" and "ABC1 " are one product): fold to upper.
    crm_codes_case_insensitive: bool = True
    # DuckDB memory limit of the loading connection (DuckDB spills to disk beyond it); keeps a full load
    # of the large demo under 4 GiB peak.
    duckdb_memory_limit: str = "2GB"


class ValidationSettings(_Group):
    """Data contracts."""

    # The business did not exist before this date: earlier dates are implausible.
    earliest_plausible_date: str = "2000-01-01"
    # A batch whose row count is outside [prev * low, prev * high] fails the row-count rule.
    row_count_ratio_low: float = 0.0
    row_count_ratio_high: float = 100.0
    # First-response SLA in hours (service tickets).
    first_response_sla_hours: int = 24
    # Satisfaction survey scores outside [min, max] are errors.
    satisfaction_min: int = 1
    satisfaction_max: int = 5
    # Absolute money difference tolerated when line amounts are reconciled with order totals.
    reconcile_tolerance: float = 0.01
    # Quantities outside [min, max] are implausible (a typo, not a sale; returns are negative).
    quantity_min: int = -100_000
    quantity_max: int = 100_000
    # Unit prices above this are implausible.
    max_unit_price: float = 1_000_000.0
    # Run each suite through Great Expectations too and render its Data Docs (the DuckDB engine alone
    # decides quarantine; this is the report). Off only for measurements.
    data_docs_enabled: bool = True
    # Batches larger than this go to GE as every flagged row plus a fixed-seed sample of clean rows.
    ge_max_rows: int = 25_000
    # Great Expectations result format for the Data Docs (BASIC | SUMMARY | COMPLETE).
    ge_result_format: str = "SUMMARY"
    # Validation runs kept per table in GE's result store and the Data Docs (older ones are pruned).
    data_docs_keep_runs: int = 30


class MiningSettings(_Group):
    """Association-rule mining."""

    # A fraction of the baskets in (0, 1], or a whole count of baskets (`crmwh mine --min-support 20`).
    min_support: float | int = 0.002
    min_confidence: float = 0.2
    min_lift: float = 1.0
    max_len: int = 3
    max_consequent: int = 1
    item_level: str = "product"  # product | category
    engine: str = "mlxtend"  # mlxtend | spark
    spark_master: str = "local[2]"
    # Spark driver heap (spark.driver.memory); in local mode the driver runs the executors too.
    spark_driver_memory: str = "2g"
    non_merchandise_codes: StrTuple = (
        "POST",
        "DOT",
        "M",
        "MANUAL",
        "BANK CHARGES",
        "C2",
        "CRUK",
        "D",
        "S",
        "AMAZONFEE",
        "PADS",
        "B",
        "ADJUST",
        "FEE",
        "SHIPPING",
    )
    window_days: int = 90
    fdr_alpha: float = 0.05
    # Itemset counter: mlxtend (its FP-growth on a sparse frame), sparse (same itemsets, sparse products,
    # fast), auto (mlxtend for small inputs, sparse for large).
    itemset_counter: str = "auto"
    # Segmented mining: customer attributes mined separately (dim_customer columns, and value_tier from
    # analytics.customer_segments when that table exists); segments with fewer baskets are skipped.
    segment_dimensions: StrTuple = ("segment", "value_tier", "region")
    min_segment_baskets: int = 200
    # Floor on an itemset's basket count in every scope (a fraction of a small segment can round to 1).
    min_itemset_count: int = 5
    # Drift: a rule present in both windows "changed" when |lift_now / lift_before - 1| >= this.
    drift_lift_change: float = 0.25
    # marts.product_affinity: product pairs bought together in at least this many baskets.
    affinity_min_count: int = 3
    # Rules fit to offer (is_offerable): significant after the BH correction, productive (Webb's
    # improvement above offer_min_improvement) and with lift at least offer_min_lift.
    offer_min_lift: float = 1.2
    offer_min_improvement: float = 0.0
    # Support that adapts: when the overall scope yields fewer offerable rules than min_offer_rules,
    # the support count is halved (every scope uses the lowered support, but never below
    # min_itemset_count there) until it does, but never below
    # max(adaptive_min_count, ceil(adaptive_support_floor * baskets)); the run says so.
    min_offer_rules: int = 10
    adaptive_support_floor: float = 0.0002
    adaptive_min_count: int = 3

    def params(self) -> MiningParams:
        """The thresholds of a mining run from these settings (the one mapping; validated)."""
        from transforms.association_params import MiningParams

        params = MiningParams(min_support=self.min_support, min_confidence=self.min_confidence,
                              min_lift=self.min_lift, max_len=self.max_len, max_consequent=self.max_consequent,
                              counter=self.itemset_counter)
        params.validate()
        return params


class RecommenderSettings(_Group):
    """The hybrid cross-sell recommender (marts.cross_sell_recommendations) and its backtest."""

    # Customers who bought anything in the last lookback_days before as-of are active and get offers;
    # what they bought or returned in it is never offered.
    lookback_days: int = 365
    offers_per_customer: int = 5
    # History the customer-level signals learn from (item-item co-purchase over customers, sequences).
    history_days: int = 730
    # Item-item: cosine similarity over customers' histories, keeping each item's top neighbours; a
    # neighbour needs at least min_co_customers shared customers.
    item_neighbours: int = 50
    min_co_customers: int = 3
    # Sequences: product B on a customer's next order within sequence_days of an order with A;
    # a pair needs sequence_min_customers customers and a lift of at least sequence_min_lift.
    sequence_days: int = 90
    sequence_min_customers: int = 3
    sequence_min_lift: float = 1.5
    # Fixed blend of the sources' scores (each in [0, 1]), used only when the fitted blend cannot be fitted.
    weight_rules: float = 1.0
    weight_sequence: float = 1.0
    weight_item: float = 1.0
    weight_category: float = 1.0
    weight_popularity: float = 0.3
    # Popularity fallback within the customer's segment (dim_customer.segment), overall when the segment
    # has fewer than segment_min_customers active customers.
    segment_min_customers: int = 50
    # Category taste: share of the customer's products (history_days) per category, each product weighted by
    # 0.5 ** (days since bought / taste_half_life_days), times the product's share within its category.
    taste_half_life_days: float = 180.0
    # Candidates per customer and source before blending: each source's best candidates_per_source products
    # (not excluded, score > 0), the union scored by the blend. 30 (was 50) leaves about 60 candidates per
    # customer instead of 100 and the same hit rate (BENCHMARKS.md, recommender cost).
    candidates_per_source: int = 30
    # Blend: fitted out of time on the last blend_days before the as-of date (signals as of its start,
    # purchases in it as labels); with fewer than min_fit_positives purchases the weights above are used.
    blend_days: int = 60
    min_fit_positives: int = 30
    # Cost of the fitted blend (HistGradientBoostingClassifier): it is fitted on at most blend_fit_max_rows
    # candidates, of which purchases at most blend_fit_positive_share (purchases and other candidates each
    # sampled at random beyond that, the probabilities corrected for both rates), with at most
    # blend_max_iter boosting iterations (early stopping on a 10% validation split above 10,000 rows) and
    # blend_max_bins histogram bins per score. 100,000 rows (was 400,000 negatives) keeps every purchase of
    # the medium demo and the same hit rate at a third of the fit's CPU.
    blend_fit_max_rows: int = 100_000
    blend_fit_positive_share: float = 0.25
    blend_max_iter: int = 150
    blend_max_bins: int = 255
    # OpenMP threads of the blend's fit and predictions (0 = the library's default, one per core). One
    # thread is the default: on a small machine shared with other jobs the boosting's per-tree
    # barriers wait for descheduled threads (the fit took 15x its CPU time in wall time on 2 busy cores).
    threads: int = 1
    # Diversity: no product takes more than this share of all offers (0 = no cap); customers the cap
    # leaves short take their next best products regardless.
    max_product_share: float = 0.06
    # Backtest (crmwh evaluate; the analytics run refreshes the card with the last holdout_days held out).
    holdout_days: int = 60
    eval_k: int = 5
    bootstrap_samples: int = 1000
    bootstrap_seed: int = 20251


class ChurnSettings(_Group):
    """Churn label, risk model and its card, bands, value, segmentations (docs/churn.md)."""

    # Label: an active customer (bought in the last ``lookback_days``) who makes no purchase in the next
    # H days is churned (non-contractual churn). H = ``horizon_days`` when set; 0 derives it from the
    # purchase cycle: the ``horizon_gap_quantile`` quantile of the days between a customer's
    # consecutive purchases (before the scoring date), rounded up to ``horizon_round_days`` and kept
    # within [horizon_min_days, horizon_max_days].
    horizon_days: int = 0
    horizon_gap_quantile: float = 0.9
    horizon_round_days: int = 30
    horizon_min_days: int = 30
    horizon_max_days: int = 180
    # Active = bought in the last lookback_days; 0 = the horizon (silent longer than H = already lapsed:
    # win-back list, not the retention ranking).
    lookback_days: int = 0
    # Snapshots are month starts. Rolling-origin backtest: the latest ``backtest_origins`` month starts
    # whose label is observed are test dates; each trains on the ``train_snapshots`` month starts before
    # it whose label windows close by it. The published model trains on the latest ``train_snapshots``
    # labelled month starts.
    train_snapshots: int = 6
    backtest_origins: int = 3
    # Bootstrap replicates and level of the model card's intervals; training and test rows per origin
    # are fixed-seed samples of at most these many (the same rows for every model).
    bootstrap_samples: int = 200
    bootstrap_alpha: float = 0.05
    backtest_max_train_rows: int = 50_000
    # Published model: the simplest (BG/NBD, dropout model, gradient boosting) whose pooled ROC AUC is not
    # worse than the best one's by more than this margin (upper end of the paired bootstrap interval).
    selection_auc_margin: float = 0.005
    # The risk score is P(stopped buying); when that is flat on the training rows (standard deviation
    # below this: the data cannot tell stopping from slow buying) it is P(no purchase in the horizon).
    flat_risk_std: float = 0.01
    backtest_max_test_rows: int = 20_000
    # Monthly snapshots kept for marts.churn_by_segment (months with a fully observed label).
    history_months: int = 12
    model_seed: int = 42
    model_c: float = 1.0  # inverse L2 strength of the dropout logistic model
    model_max_train_rows: int = 100_000  # the published model trains on a fixed-seed sample of at most this
    # lifetimes' BG/NBD and Gamma-Gamma penalizer; predicted value over value_days days.
    bgnbd_penalizer: float = 0.001
    bgnbd_max_customers: int = 30_000  # BG/NBD and Gamma-Gamma fit on a fixed-seed sample of customers
    value_days: int = 365
    # DuckDB memory limit while the churn step runs (restored afterwards); empty = leave DuckDB's own.
    # Measured on the large demo: any explicit limit up to 3GB made the feature query spill to disk
    # (slower, and a higher RSS than without one), so the default sets none.
    memory_limit: str = ""
    # Service features: a ticket is slowly resolved after this many hours (or still open past them);
    # a satisfaction score at or below low_satisfaction_max counts as a low score.
    slow_resolution_hours: float = 72.0
    low_satisfaction_max: int = 2
    # Risk bands by capacity, among active customers ranked by risk: high = the top share, medium down
    # to the second (cumulative) share, low the rest. high_risk_per_rep > 0 instead makes "high" each
    # rep's that many riskiest customers (the calls one rep makes in a week).
    risk_band_shares: FloatPair = (0.10, 0.30)
    high_risk_per_rep: int = 0
    # Offer fallback for customers without a cross-sell recommendation: the most popular product (by
    # buyers in the last offer_popularity_days) they have not bought, among the top offer_fallback_products.
    offer_popularity_days: int = 90
    offer_fallback_products: int = 20
    # ABC: customers making the first 80% of revenue are A, the next 10% B, the rest C.
    abc_bands: FloatPair = (0.8, 0.9)
    # Customer pyramid: current value (365-day spend) and potential (predicted 12-month value) are
    # "high" at or above these quantiles of the as-of date's customers.
    pyramid_value_quantile: float = 0.7
    pyramid_potential_quantile: float = 0.7
    # RFM named segments: first matching rule wins; "name:Rlo-Rhi,Flo-Fhi,Mlo-Mhi" on 1-5 scores.
    rfm_segment_rules: StrTuple = (
        "Champions:4-5,4-5,4-5",
        "Loyal:3-5,4-5,1-5",
        "Can't Lose:1-2,4-5,4-5",
        "At Risk:1-2,3-5,1-5",
        "New:4-5,1-1,1-5",
        "Potential Loyalist:3-5,1-3,1-5",
        "Hibernating:2-2,1-2,1-5",
        "Lost:1-1,1-2,1-5",
    )
    # Credit grade from payments due in the last 365 days: grade X if overdue share <= share and mean
    # days late <= days, for the first of A, B, C that fits; else D. Mean days late counts on-time
    # payments as 0, so the grades follow how late the customer pays.
    credit_max_overdue_share: FloatTriple = (0.10, 1.0, 1.0)
    credit_max_mean_days_late: FloatTriple = (1.0, 15.0, 45.0)
    # Lifecycle from the customer's own history: exploration while tenure < exploration_tenure_days or
    # fewer than exploration_max_orders orders; decline when lapsed, or when the orders of the last
    # 180 days are improbably few at the customer's own earlier rate (Poisson, below decline_p_value);
    # formation while tenure < formation_tenure_days; else stability.
    decline_p_value: float = 0.05
    exploration_tenure_days: int = 90
    exploration_max_orders: int = 2
    formation_tenure_days: int = 365


class PublishSettings(_Group):
    """Publishing the marts, the PII guard on published columns and the marketers' report."""

    # Published versions kept besides the current one; older ones are pruned after each publish.
    keep_versions: int = 3
    # PII guard, by column name (regular expressions, case-insensitive, matched on the whole name;
    # channel-mix columns such as `phone_share` or `email_contacts` are not personal data).
    pii_column_patterns: StrTuple = (
        r"(customer|contact|first|last|full|middle|given|family|person|employee|agent|rep|sales_rep)_?name",
        r"name",
        r"((customer|contact|primary|work|home)_)?e_?mail(_address)?",
        r"((customer|contact|primary|work|home)_)?(phone|mobile|cell|telephone|tel|fax)(_?(number|no))?",
    )
    # PII guard, by content: a value containing an e-mail address ...
    pii_email_pattern: str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z][A-Za-z]+"
    # ... or a whole value shaped like a phone number (digits with + ( ) - . or spaces) ...
    pii_phone_pattern: str = r"\+?[0-9(][0-9 ().-]*[0-9]"
    # ... with at least this many digits (order ids and product codes are shorter or unseparated).
    pii_phone_min_digits: int = 9
    # ... and at most this many (E.164 numbers have at most 15 digits; longer runs are ids or hashes).
    pii_phone_max_digits: int = 15
    # A bare run of digits only counts as a phone from this many digits on (or with a leading +).
    pii_bare_digits_min: int = 11
    # Values with an ISO date in them are dates or date ranges, not phones.
    pii_phone_exclude_pattern: str = r".*[0-9]{4}-[0-9]{2}-[0-9]{2}.*"
    # Values equal to a customer's or employee's name, e-mail or phone in `core` are PII when at least
    # this long (shorter values such as "A" or "VIP" are too common to mean a person).
    pii_exact_match_min_length: int = 5
    # The report: how many cross-sell rules the support/confidence scatter shows (by lift).
    report_top_rules: int = 200
    # `crmwh query --format table` prints at most this many rows (csv and json print all).
    query_table_max_rows: int = 100
    # `crmwh query` interrupts a statement (and the fetching of its rows) after this many seconds; 0 = none.
    query_timeout_s: float = 120.0


class DemoSettings(_Group):
    """The demo CRM source generator (``crmwh demo ...``)."""

    scale: str = "small"  # small | medium | large
    seed: int = 42
    profile: str = "retail"  # retail | services
    # Last day of generated business history; fixed so the same seed always gives the same database.
    end_date: str = "2025-12-31"
    history_days: int = 730
    # Share of rows that carry planted dirt (duplicates, stray spaces, bad phones, impossible values).
    dirt_rate: float = 0.01


class ServicesSettings(_Group):
    """The services agency's marts (sales funnel, contract renewals, service SLAs) and the weekly care scan."""

    # marts.contract_renewals: contracts ending within this many days from the as-of date.
    renewal_horizon_days: int = 90
    # A contract is renewed when a contract naming it as renewed_from starts within this many days of its
    # end; with none by then (and not terminated early) it was not renewed.
    renewal_grace_days: int = 90
    # Renewal features are as of this many days before a contract's end (when the customer decides) ...
    renewal_decision_days: int = 30
    # ... counting late filings, complaints, slow ticket answers and late payments over this window.
    renewal_window_days: int = 180
    # Out-of-time test: contracts whose outcome became known in the last test_days before the as-of date;
    # the model trains on contracts whose outcome was known by the start of that window.
    renewal_test_days: int = 180
    # Fewer labelled training contracts (or only one outcome) than this: no model, no probabilities.
    renewal_min_train_rows: int = 40
    renewal_model_c: float = 1.0  # inverse L2 strength of the logistic regression
    renewal_model_seed: int = 42
    # Bootstrap resamples behind the model card's confidence intervals.
    bootstrap_samples: int = 1000
    # The weekly care scan: the rules file (empty = warehouse/core/rules/care_rules.toml) and how many actions
    # one owner can work in a week (the rest are listed with within_capacity = false, ordered after).
    care_rules_path: str = ""
    care_capacity_per_owner: int = 40


class FilesSettings(_Group):
    """File drops (``crmwh ingest``, the landing folder) and basket files: limits checked before a file
    is read into memory, and where rejected files go."""

    # Largest file drop read (bytes); a larger file is rejected before it is read.
    max_file_bytes: int = 1_073_741_824
    # Largest number of cells (rows x columns) a file drop may hold; an XLSX sheet's extent is checked
    # from its cell references before any reader allocates it.
    max_cells: int = 50_000_000
    # Most columns a file drop may have.
    max_columns: int = 500
    # Longest line of a CSV or basket file (bytes).
    max_line_bytes: int = 1_048_576
    # Most items one basket of a basket file (``crmwh mine --baskets``) may hold.
    max_basket_items: int = 1_000
    # Folder rejected file drops are moved to (empty: ``rejected/`` beside the landing folder).
    rejected_dir: str = ""


class PiiSettings(_Group):
    """Personal data at the door: free-text fields of file drops and CRM staging tables (descriptions,
    names of things, ticket subjects, notes) are masked in staging, so the publish guard
    (``settings.publish``, whose e-mail and phone rules are reused here) is a last line that never fires."""

    # What a masked e-mail address or phone number becomes.
    email_mask: str = "[e-mail removed]"
    phone_mask: str = "[phone removed]"
    # A phone number inside a longer text: an international number with a leading + (a whole value
    # shaped like a phone is masked by the publish guard's own rule).
    embedded_phone_pattern: str = r"\+[0-9][0-9 ().-]{6,}[0-9]"
    # An identifier (a file drop's customer id) that is an e-mail or a phone becomes this prefix plus a
    # hash of it: the same person keeps one id, the address never reaches the warehouse's core.
    pseudonym_prefix: str = "pii-"


class CurrencySettings(_Group):
    """Money in one currency: every sales line keeps its own currency and local amount; ``net_amount``
    in the core and the marts is in the reporting currency (docs/ARCHITECTURE.md, "Currencies")."""

    # ISO 4217 code the marts report money in.
    reporting_currency: str = "GBP"
    # Exchange rates, CSV with columns currency, rate (reporting units per unit of currency) and
    # optionally valid_from (YYYY-MM-DD; the rate holds until the next one). Empty:
    # ``<data dir>/reference/fx_rates.csv`` (no file = only the reporting currency converts).
    rates_file: str = ""
    # Or a table of the CRM source database with the same columns (empty = none).
    rates_table: str = ""


_PATH_FIELDS = ("landing_dir", "warehouse_path", "published_dir", "airflow_home")
_PATH_DEFAULTS = {"landing_dir": ("landing",), "warehouse_path": ("warehouse", "crm.duckdb"),
                  "published_dir": ("published",), "airflow_home": ("airflow",)}
# The environment and the file one load_settings call reads (None: os.environ and the file it names).
_LOADING: ContextVar[tuple[Mapping[str, str], Path | None] | None] = ContextVar("crmwh_settings_loading", default=None)
_NOT_SETTINGS_LOWER = frozenset(name.lower() for name in ENV_NOT_SETTINGS)


class Settings(BaseSettings):
    """Everything configurable. Paths left empty are derived from ``data_dir``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True,
                                      coerce_numbers_to_str=True, protected_namespaces=())

    data_dir: Path = Path("data")
    source_url: str = ""
    landing_dir: Path | None = None
    warehouse_path: Path | None = None
    published_dir: Path | None = None
    airflow_home: Path | None = None
    # How long a pipeline run waits for another run's warehouse write lock before it gives up.
    lock_timeout_s: float = 600.0
    # Groups: NoDecode, so ``CRMWH_MINING=...`` is refused as "must be a table" (not parsed as JSON).
    ingest: Annotated[IngestSettings, NoDecode] = Field(default_factory=IngestSettings)
    validation: Annotated[ValidationSettings, NoDecode] = Field(default_factory=ValidationSettings)
    mining: Annotated[MiningSettings, NoDecode] = Field(default_factory=MiningSettings)
    recommender: Annotated[RecommenderSettings, NoDecode] = Field(default_factory=RecommenderSettings)
    churn: Annotated[ChurnSettings, NoDecode] = Field(default_factory=ChurnSettings)
    publish: Annotated[PublishSettings, NoDecode] = Field(default_factory=PublishSettings)
    demo: Annotated[DemoSettings, NoDecode] = Field(default_factory=DemoSettings)
    services: Annotated[ServicesSettings, NoDecode] = Field(default_factory=ServicesSettings)
    files: Annotated[FilesSettings, NoDecode] = Field(default_factory=FilesSettings)
    currency: Annotated[CurrencySettings, NoDecode] = Field(default_factory=CurrencySettings)
    pii: Annotated[PiiSettings, NoDecode] = Field(default_factory=PiiSettings)

    @field_validator("data_dir")
    @classmethod
    def _resolve_data_dir(cls, value: Path) -> Path:
        return Path(value).expanduser().resolve()

    @field_validator(*_PATH_FIELDS, mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator(*_PATH_FIELDS)
    @classmethod
    def _derive_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value:
            return Path(value).expanduser().resolve()
        data_dir = info.data.get("data_dir")
        return None if data_dir is None else data_dir.joinpath(*_PATH_DEFAULTS[info.field_name or ""])

    @field_validator("source_url")
    @classmethod
    def _default_source(cls, value: str, info: ValidationInfo) -> str:
        data_dir = info.data.get("data_dir")
        if value or data_dir is None:
            return value
        return f"sqlite:///{data_dir / 'source' / 'crm.sqlite'}"

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keywords, then ``CRMWH_`` variables, then the TOML file, then the defaults (no .env, no secrets)."""
        loading = _LOADING.get()
        environ, config = loading if loading is not None else (os.environ, _config_file(os.environ))
        env = _EnvSource(settings_cls, environ)
        if config is None:
            return init_settings, env
        return init_settings, env, _TomlSource(settings_cls, config)

    # Derived paths -----------------------------------------------------------------------------
    @property
    def source_dir(self) -> Path:
        return self.data_dir / "source"

    @property
    def ground_truth_path(self) -> Path:
        """Planted structure of the demo source (bundles, churn dates); never read by the pipeline."""
        return self.source_dir / "ground_truth.json"

    @property
    def published_path(self) -> Path:
        assert self.published_dir is not None
        return self.published_dir / "marts.duckdb"

    @property
    def parquet_dir(self) -> Path:
        assert self.published_dir is not None
        return self.published_dir / "parquet"

    @property
    def data_docs_dir(self) -> Path:
        return self.data_dir / "data_docs"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def profiles_dir(self) -> Path:
        """User source profiles of file drops (``<name>.toml``), beside the shipped ones."""
        return self.data_dir / "profiles"

    @property
    def rejected_dir(self) -> Path:
        """Where a file drop that cannot be read is moved (beside the landing folder)."""
        if self.files.rejected_dir:
            return Path(self.files.rejected_dir).expanduser().resolve()
        assert self.landing_dir is not None
        return Path(self.landing_dir).parent / "rejected"

    @property
    def rates_path(self) -> Path:
        """The declared exchange-rates file (may not exist)."""
        if self.currency.rates_file:
            return Path(self.currency.rates_file).expanduser().resolve()
        return self.data_dir / "reference" / "fx_rates.csv"

    @property
    def lock_path(self) -> Path:
        """Held by the one pipeline run allowed to write the warehouse at a time."""
        assert self.warehouse_path is not None
        return self.warehouse_path.with_suffix(".lock")

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.source_dir, self.landing_dir, self.published_dir,
                     self.warehouse_path.parent if self.warehouse_path else None):
            if path is not None:
                Path(path).mkdir(parents=True, exist_ok=True)



class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping; a ``CRMWH_`` variable naming no
    setting is kept (under its first segment) so the model's ``extra="forbid"`` refuses it."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        prefix = self.env_prefix.lower()
        for key, value in self.env_vars.items():
            if not key.startswith(prefix) or key[len(prefix):] in _NOT_SETTINGS_LOWER:
                continue
            top = key[len(prefix):].split(self.env_nested_delimiter or "__", 1)[0]
            if top not in self.settings_cls.model_fields:
                data.setdefault(top, value)
        return data


class _TomlSource(TomlConfigSettingsSource):
    """pydantic-settings' TOML source on the one file ``_config_file`` names, its read errors in one line."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Path) -> dict[str, Any]:
        try:
            return tomllib.loads(file_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{file_path}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise SettingsError(f"{file_path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                                f"{exc.start}); TOML files must be UTF-8: re-save it as UTF-8") from exc
        except OSError as exc:
            raise SettingsError(f"cannot read {file_path}: {exc.strerror}") from exc


def _config_file(environ: Mapping[str, str]) -> Path | None:
    explicit = environ.get(ENV_PREFIX + "CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SettingsError(f"CRMWH_CONFIG points to {path}, which is not a file")
        return path
    candidates = [Path.cwd() / "crmwh.toml"]
    data_dir = environ.get(ENV_PREFIX + "DATA_DIR")
    candidates.append(Path(data_dir or "data") / "crmwh.toml")
    return next((c for c in candidates if c.is_file()), None)


# pydantic's error types, by the type name the one-line message gives.
_TYPE_NAMES = {"int": "int", "float": "float", "bool": "bool", "string": "str", "str": "str", "path": "path",
               "tuple": "tuple", "too": "tuple"}


def _one_line(exc: ValidationError) -> SettingsError:
    """The settings error of a validation failure: unknown names first, else the first mistyped value."""
    errors = exc.errors(include_url=False)
    unknown = sorted({".".join(str(p) for p in e["loc"] if isinstance(p, str)) for e in errors
                      if e["type"] == "extra_forbidden"})
    if unknown:
        return SettingsError(f"unknown setting(s) {', '.join(unknown)}")
    first = errors[0]
    name = ".".join(str(p) for p in first["loc"] if isinstance(p, str))
    if first["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return SettingsError(f"setting {name} must be a table")
    kind = _TYPE_NAMES.get(first["type"].split("_")[0], "value")
    if first["type"] == "missing" and any(isinstance(p, int) for p in first["loc"]):
        kind, first["msg"] = "tuple", "too few items"
    return SettingsError(f"setting {name}={first['input']!r} is not a valid {kind} ({first['msg'].lower()})")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings from the TOML file and the environment (``os.environ`` unless given); keyword
    overrides win over both (a group is a mapping merged key by key: ``mining={"max_len": 5}``)."""
    environ = os.environ if environ is None else environ
    token = _LOADING.set((environ, _config_file(environ)))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise _one_line(exc) from None
    except _SourceError as exc:
        raise SettingsError(str(exc).splitlines()[0]) from exc
    finally:
        _LOADING.reset(token)


_Model = TypeVar("_Model", bound=BaseModel)


def replace_settings(obj: _Model, **changes: Any) -> _Model:
    """A copy of a settings object (or group) with ``changes``, validated like the sources are (the
    frozen counterpart of ``dataclasses.replace``); a group given as a mapping is merged into it."""
    data = obj.model_dump()
    for key, value in changes.items():
        value = value.model_dump() if isinstance(value, BaseModel) else value
        data[key] = {**data[key], **value} if isinstance(value, Mapping) and isinstance(data.get(key), dict) else value
    try:
        return type(obj).model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()`` after changing env)."""
    return load_settings()

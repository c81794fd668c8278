"""Validate a staged batch against its Great Expectations suite; quarantine bad rows; record results.

The suite ``expectations/<table>.json`` is the one declaration of a table's data contract. Each
expectation carries in ``meta`` its rule id, its severity (``error``: the row goes to quarantine;
``warning``: recorded only; ``critical``: the batch is refused and nothing downstream runs) and a
readable reason template (``{column}`` placeholders are filled from the offending row).

The same suite is evaluated two ways:

- here, translated to vectorized DuckDB predicates over the batch (exact, fast at any scale): this
  decides quarantine and fills ``audit.validation_results``;
- by Great Expectations' pandas engine (``warehouse.quality.data_docs``) to render Data Docs.

Both read the same *check relation*: the batch's staged rows plus derived columns the suite may name:
``_raw__<col>`` (the source's original text for ``<col>``, blank = missing; "values parse" is
"typed value is NULL where the raw text is not"), ``_ref__<col>`` (the matching key of a reference
table, NULL when ``<col>`` does not resolve) and ``_extracted_at`` (when the batch was extracted).

Modules, one job each: ``rule_sql`` (rules as SQL), ``check`` (the check relation), ``evaluate`` (the
suite over it), ``results`` (outcomes and their record), ``quarantine_rows`` (bad rows moved out),
``ge_run`` (the Great Expectations run), ``entry`` (staged batches, core tables), ``marts`` (the gate
before publishing). Suites are read by ``warehouse.quality.suites``.
"""

from warehouse.quality.validation.check import CHECK_TABLE, REFERENCE_SOURCES, build_check_relation
from warehouse.quality.validation.entry import in_transaction, validate_core, validate_staged
from warehouse.quality.validation.evaluate import evaluate
from warehouse.quality.validation.marts import marts_suites, validate_marts
from warehouse.quality.validation.results import RuleResult, ValidationOutcome
from warehouse.quality.validation.rule_sql import failure_predicate, reason_sql

__all__ = ["CHECK_TABLE", "REFERENCE_SOURCES", "RuleResult", "ValidationOutcome", "build_check_relation",
           "evaluate", "failure_predicate", "in_transaction", "marts_suites", "reason_sql",
           "validate_core", "validate_marts", "validate_staged"]

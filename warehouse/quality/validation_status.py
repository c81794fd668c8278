"""One validation status vocabulary for Data Docs, ``crmwh status`` and the publish manifest.

A set of rule results (one batch of a table, one table's latest checks, a whole warehouse) has one
status, decided the same way everywhere:

- ``failed``: a critical rule failed: the batch was refused, the load rolled back or the publish
  stopped (nothing of it reached core or the published marts);
- ``warning``: no critical failure, but an error rule quarantined rows or a warning rule broke: what
  passed was loaded or published, the rest waits in quarantine or is reported;
- ``passed``: every rule held;
- ``not_validated``: nothing was checked.

Great Expectations marks a suite run unsuccessful when any expectation fails, whatever its severity;
crmwh's pages show this status instead (and GE's own verdict beside it), so a batch whose bad rows
went to quarantine reads ``warning`` in Data Docs, in ``crmwh status`` and in the manifest alike.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from warehouse.foundation.db import table_exists

PASSED, WARNING, FAILED, NOT_VALIDATED = "passed", "warning", "failed", "not_validated"
STATUSES: tuple[str, ...] = (PASSED, WARNING, FAILED, NOT_VALIDATED)
MEANING: dict[str, str] = {
    FAILED: "a critical rule failed: nothing of it was loaded or published",
    WARNING: "rows quarantined or a warning rule broken; what passed was loaded",
    PASSED: "every rule held",
    NOT_VALIDATED: "no rule was checked",
}
CRITICAL = "critical"


def status_of(results: Iterable[tuple[str, bool]]) -> str:
    """The status of ``(severity, success)`` pairs."""
    checked = critical = broken = 0
    for severity, success in results:
        checked += 1
        if not success:
            broken += 1
            critical += severity == CRITICAL
    if not checked:
        return NOT_VALIDATED
    return FAILED if critical else WARNING if broken else PASSED


def status_sql(severity: str = "severity", success: str = "success") -> str:
    """The same decision as an SQL aggregate over rule-result rows (for GROUP BY queries)."""
    return (f"case when count(*) = 0 then '{NOT_VALIDATED}' "
            f"when count(*) filter (where not {success} and {severity} = '{CRITICAL}') > 0 then '{FAILED}' "
            f"when count(*) filter (where not {success}) > 0 then '{WARNING}' else '{PASSED}' end")


def validation_status_from_audit(con: duckdb.DuckDBPyConnection) -> str:
    """The validation status of the warehouse as it stands: the latest result of every rule per table.

    ``failed`` when a critical rule's latest check failed, ``warning`` when any other latest check
    failed, ``passed`` when all passed, ``not_validated`` when nothing was ever checked.
    """
    if not table_exists(con, "audit.validation_results"):
        return "not_validated"
    (status,) = con.execute(
        f"""
        with latest as (
            select severity, success,
                   row_number() over (partition by table_name, rule order by checked_at desc) as rn
            from audit.validation_results
        )
        select {status_sql()} from latest where rn = 1
        """  # noqa: S608 - a constant expression
    ).fetchone()
    return str(status)

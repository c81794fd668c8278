"""Business rules declared once as data files: the service processes with their SLAs
(``service_sla.toml``) and the care rules of the weekly scan (``care_rules.toml``).

Both are read by typed loaders that refuse a malformed file with a clear error naming the entry.
The demo generator sets due dates from the SLA file; the warehouse reads the same file for step
names and filing flags, and the care scan reads the rules file (``settings.services.care_rules_path``
replaces it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warehouse.foundation.errors import CrmwhError

RULES_DIR = Path(__file__).resolve().parent
SERVICE_SLA_FILE = RULES_DIR / "service_sla.toml"
CARE_RULES_FILE = RULES_DIR / "care_rules.toml"

CARE_KINDS: tuple[str, ...] = ("renewal_due", "filing_deadline", "annual_report_deadline", "complaint_follow_up",
                               "value_at_risk", "signup_anniversary")
CARE_OWNERS: tuple[str, ...] = ("account_rep", "contract_owner", "ticket_agent")


class RulesError(CrmwhError):
    """A rules file is missing or malformed."""


@dataclass(frozen=True)
class ServiceStep:
    code: str
    name: str
    sla_days: int | None = None  # due this many days after the step starts
    due_day_of_next_month: int | None = None  # or: due at the end of this day of the next month
    is_filing: bool = False


@dataclass(frozen=True)
class ServiceProcess:
    code: str
    name: str
    categories: tuple[str, ...]
    steps: tuple[ServiceStep, ...]

    @property
    def is_monthly(self) -> bool:
        return any(s.due_day_of_next_month is not None for s in self.steps)


@dataclass(frozen=True)
class CareRule:
    code: str
    kind: str
    action: str
    owner: str
    channel: str
    priority: int
    offer: bool
    days_before: int = 0
    days_after: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_after_event(self) -> bool:
        return self.days_after is not None


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RulesError(f"rules file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"rules file {path} is not valid TOML: {exc}") from exc


def load_service_processes(path: Path | None = None) -> dict[str, ServiceProcess]:
    """Every service process of the SLA file, by code; a category belongs to at most one process."""
    path = path or SERVICE_SLA_FILE
    data = _read(path).get("processes") or {}
    out: dict[str, ServiceProcess] = {}
    seen: dict[str, str] = {}
    for code, body in data.items():
        where = f"{path.name}: process {code!r}"
        try:
            steps = []
            for raw in body["steps"]:
                step = ServiceStep(code=str(raw["code"]), name=str(raw.get("name", raw["code"])),
                                   sla_days=raw.get("sla_days"), due_day_of_next_month=raw.get("due_day_of_next_month"),
                                   is_filing=bool(raw.get("is_filing", False)))
                if (step.sla_days is None) == (step.due_day_of_next_month is None):
                    raise RulesError(f"{where} step {step.code!r}: give exactly one of sla_days, due_day_of_next_month")
                if step.sla_days is not None and not 0 < int(step.sla_days) <= 365:
                    raise RulesError(f"{where} step {step.code!r}: sla_days must be 1-365")
                if step.due_day_of_next_month is not None and not 1 <= int(step.due_day_of_next_month) <= 28:
                    raise RulesError(f"{where} step {step.code!r}: due_day_of_next_month must be 1-28")
                steps.append(step)
            process = ServiceProcess(code=code, name=str(body.get("name", code)),
                                     categories=tuple(str(c) for c in body["categories"]), steps=tuple(steps))
        except (KeyError, TypeError, ValueError) as exc:
            raise RulesError(f"{where} is malformed: {exc}") from exc
        if not process.steps:
            raise RulesError(f"{where} has no steps")
        if process.is_monthly and len(process.steps) != 1:
            raise RulesError(f"{where}: a monthly process has exactly one step")
        for category in process.categories:
            if category in seen:
                raise RulesError(f"{where}: category {category!r} already belongs to process {seen[category]!r}")
            seen[category] = code
        out[code] = process
    return out


def process_by_category(processes: dict[str, ServiceProcess]) -> dict[str, ServiceProcess]:
    return {c: p for p in processes.values() for c in p.categories}


def service_steps_frame_rows(processes: dict[str, ServiceProcess]) -> list[tuple[Any, ...]]:
    """(process, process name, step number, step code, step name, sla_days, due_day_of_next_month,
    is_filing) per step: the SLA as rows, for the warehouse."""
    return [(p.code, p.name, i + 1, s.code, s.name, s.sla_days, s.due_day_of_next_month, s.is_filing)
            for p in processes.values() for i, s in enumerate(p.steps)]


_RULE_FIELDS = {"code", "kind", "action", "owner", "channel", "priority", "offer", "days_before", "days_after"}


def load_care_rules(path: Path | str | None = None) -> list[CareRule]:
    """The care rules, in file order (codes unique, kinds and owners known, one lead time each)."""
    path = Path(path) if path else CARE_RULES_FILE
    rules: list[CareRule] = []
    for i, raw in enumerate(_read(path).get("rule") or []):
        where = f"{path.name}: rule #{i + 1} ({raw.get('code', '?')})"
        missing = [k for k in ("code", "kind", "action", "owner") if k not in raw]
        if missing:
            raise RulesError(f"{where} lacks {', '.join(missing)}")
        if raw["kind"] not in CARE_KINDS:
            raise RulesError(f"{where}: unknown kind {raw['kind']!r} (known: {', '.join(CARE_KINDS)})")
        if raw["owner"] not in CARE_OWNERS:
            raise RulesError(f"{where}: unknown owner {raw['owner']!r} (known: {', '.join(CARE_OWNERS)})")
        if ("days_after" in raw) == ("days_before" in raw):
            raise RulesError(f"{where}: give exactly one lead time, days_before or days_after")
        lead = int(raw.get("days_after", raw.get("days_before", 0)))
        if not 0 <= lead <= 366:
            raise RulesError(f"{where}: the lead time must be 0-366 days")
        rule = CareRule(code=str(raw["code"]), kind=str(raw["kind"]), action=str(raw["action"]),
                        owner=str(raw["owner"]), channel=str(raw.get("channel", "phone")),
                        priority=int(raw.get("priority", 3)), offer=bool(raw.get("offer", False)),
                        days_before=int(raw.get("days_before", 0)),
                        days_after=int(raw["days_after"]) if "days_after" in raw else None,
                        params={k: v for k, v in raw.items() if k not in _RULE_FIELDS})
        if any(r.code == rule.code for r in rules):
            raise RulesError(f"{where}: code {rule.code!r} declared twice")
        rules.append(rule)
    if not rules:
        raise RulesError(f"{path} declares no [[rule]]")
    return rules

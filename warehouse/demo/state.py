"""``demo_state``: the demo source's own bookkeeping (business clock, seed, profile), one row.

It lives in the source database next to the CRM tables so ``crmwh demo advance`` knows where the
business stopped. It is not a CRM table: extraction never reads it (``schema.SOURCE_TABLES``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from warehouse.demo.config import DemoError

state_metadata = sa.MetaData()

demo_state = sa.Table(
    "demo_state",
    state_metadata,
    sa.Column("state_id", sa.Integer, primary_key=True),  # always 1
    sa.Column("profile", sa.String(20), nullable=False),
    sa.Column("scale", sa.String(20), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),  # first day of generated history
    sa.Column("end_date", sa.Date, nullable=False),  # last day of the initial generation
    sa.Column("business_clock", sa.DateTime, nullable=False),  # every row's timestamps are <= this
    sa.Column("advance_count", sa.Integer, nullable=False),
    sa.Column("dirt_rate", sa.Float, nullable=False),
    sa.Column("generator_version", sa.Integer, nullable=False),
)


@dataclass(frozen=True)
class DemoState:
    profile: str
    scale: str
    seed: int
    start_date: dt.date
    end_date: dt.date
    business_clock: dt.datetime
    advance_count: int
    dirt_rate: float
    generator_version: int


def write_state(engine: sa.Engine, state: DemoState) -> None:
    state_metadata.create_all(engine)
    values = {**state.__dict__, "state_id": 1}
    with engine.begin() as conn:
        conn.execute(demo_state.delete())
        conn.execute(demo_state.insert(), values)


def read_state(engine: sa.Engine) -> DemoState:
    if not sa.inspect(engine).has_table("demo_state"):
        raise DemoError(f"{engine.url.render_as_string(hide_password=True)} is not a demo source "
                        "(no demo_state table); run `crmwh demo generate` first")
    with engine.connect() as conn:
        row = conn.execute(sa.select(demo_state).where(demo_state.c.state_id == 1)).mappings().first()
    if row is None:
        raise DemoError("the demo_state table is empty; regenerate the source with `crmwh demo generate --force`")
    values = {k: v for k, v in row.items() if k != "state_id"}
    return DemoState(**values)

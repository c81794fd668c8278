"""Tables of the operational CRM database (the source the pipeline extracts from).

This is the source contract: the demo generator writes these tables and extraction reads them. Every
table has ``created_at`` and ``updated_at`` (UTC, naive timestamps) and a soft-delete flag
``is_deleted``; nothing is ever hard-deleted. Money is NUMERIC(12, 2).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()


def _audit_columns() -> list[Column]:
    return [
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False, index=True),
        Column("is_deleted", Boolean, nullable=False, default=False),
    ]


employees = Table(
    "employees",
    metadata,
    Column("employee_id", Integer, primary_key=True),
    Column("employee_code", String(20), nullable=False),  # business id, e.g. E0007
    Column("name", String(120), nullable=False),
    Column("role", String(30), nullable=False),  # sales_rep | service_agent | manager
    Column("team", String(60)),
    Column("region", String(60)),
    Column("hire_date", Date),
    *_audit_columns(),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", Integer, primary_key=True),
    Column("customer_code", String(20), nullable=False),  # business id, e.g. C000123
    Column("name", String(200), nullable=False),
    Column("email", String(200)),  # may be missing or malformed
    Column("phone", String(40)),  # free text as typed by staff
    Column("city", String(80)),
    Column("region", String(80)),
    Column("segment", String(40)),  # consumer | small_business | corporate | vip ...
    Column("acquisition_channel", String(40)),  # web | store | referral | campaign | marketplace ...
    Column("status", String(20)),  # active | dormant | closed
    Column("sales_rep_id", Integer, ForeignKey("employees.employee_id")),
    Column("signup_date", Date),
    *_audit_columns(),
)

products = Table(
    "products",
    metadata,
    Column("product_id", Integer, primary_key=True),
    Column("product_code", String(40), nullable=False),  # SKU; may carry stray spaces or case variants
    Column("name", String(300), nullable=False),
    Column("name_en", String(300)),  # English name where the catalog has one (services profile)
    Column("category", String(80), nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=False),  # current list price; changes over time
    Column("is_merchandise", Boolean, nullable=False, default=True),  # false for postage, fees ...
    *_audit_columns(),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", Integer, primary_key=True),
    Column("order_number", String(30), nullable=False),  # business id
    Column("customer_id", Integer, ForeignKey("customers.customer_id")),  # NULL for guest orders
    Column("order_ts", DateTime, nullable=False),
    Column("channel", String(30), nullable=False),  # web | store | phone | marketplace | wechat
    Column("sales_rep_id", Integer, ForeignKey("employees.employee_id")),
    Column("status", String(20), nullable=False),  # completed | cancelled | returned | partially_returned
    Column("order_total", Numeric(12, 2), nullable=False),  # sum of its lines' amounts
    Column("currency", String(3), nullable=False, default="GBP"),
    *_audit_columns(),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_line_id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.order_id"), nullable=False),
    Column("line_number", SmallInteger, nullable=False),
    Column("product_code", String(40), nullable=False),  # as typed on the line: may need trimming
    Column("quantity", Integer, nullable=False),  # negative for returned lines
    Column("unit_price", Numeric(12, 2), nullable=False),  # price at the time of sale
    Column("discount", Numeric(12, 2), nullable=False, default=0),  # money off the line
    Column("line_amount", Numeric(12, 2), nullable=False),  # quantity * unit_price - discount
    *_audit_columns(),
)

payments = Table(
    "payments",
    metadata,
    Column("payment_id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.order_id"), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.customer_id")),
    Column("due_date", Date, nullable=False),
    Column("paid_at", DateTime),  # NULL while unpaid
    Column("amount", Numeric(12, 2), nullable=False),
    Column("method", String(30)),  # card | transfer | cash | wechat_pay ...
    # the contract an invoice is raised under (services agency; NULL for other sales). No database
    # foreign key: payments are extracted before contracts; validation checks that it resolves.
    Column("contract_id", Integer),
    *_audit_columns(),
)

service_tickets = Table(
    "service_tickets",
    metadata,
    Column("ticket_id", Integer, primary_key=True),
    Column("ticket_number", String(30), nullable=False),  # business id
    Column("customer_id", Integer, ForeignKey("customers.customer_id")),
    Column("order_id", Integer, ForeignKey("orders.order_id")),
    Column("agent_id", Integer, ForeignKey("employees.employee_id")),
    Column("ticket_type", String(20), nullable=False),  # complaint | inquiry | request | follow_up
    Column("channel", String(20), nullable=False),  # phone | web | email | wechat | visit
    Column("priority", String(10)),  # low | normal | high | urgent
    Column("subject", Text),
    Column("opened_at", DateTime, nullable=False),
    Column("first_response_at", DateTime),
    Column("resolved_at", DateTime),
    Column("status", String(20), nullable=False),  # open | in_progress | resolved | closed
    Column("satisfaction", SmallInteger),  # 1-5 survey score, NULL when not answered
    *_audit_columns(),
)

interactions = Table(
    "interactions",
    metadata,
    Column("interaction_id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.customer_id"), nullable=False),
    Column("employee_id", Integer, ForeignKey("employees.employee_id")),
    Column("interaction_type", String(30), nullable=False),  # call | email | meeting | follow_up_call | care_message
    Column("channel", String(20), nullable=False),  # phone | web | email | wechat | visit
    Column("occurred_at", DateTime, nullable=False),
    Column("outcome", String(40)),
    Column("notes", Text),
    *_audit_columns(),
)

# --- the sales process and service delivery of a services agency (empty for a shop) ----------------

leads = Table(
    "leads",
    metadata,
    Column("lead_id", Integer, primary_key=True),
    Column("lead_code", String(20), nullable=False),  # business id, e.g. L0000123
    Column("channel", String(40), nullable=False),  # referral | web | campaign | partner | event
    Column("owner_id", Integer, ForeignKey("employees.employee_id")),  # the sales rep working it
    Column("segment", String(40)),
    Column("region", String(80)),
    Column("status", String(20), nullable=False),  # new | converted | disqualified
    Column("converted_at", DateTime),  # when it became an opportunity
    Column("disqualified_at", DateTime),
    Column("disqualify_reason", String(60)),
    Column("customer_id", Integer, ForeignKey("customers.customer_id")),  # the customer it became (won)
    *_audit_columns(),
)

opportunities = Table(
    "opportunities",
    metadata,
    Column("opportunity_id", Integer, primary_key=True),
    Column("opportunity_code", String(20), nullable=False),  # business id, e.g. OP0000123
    Column("lead_id", Integer, ForeignKey("leads.lead_id")),
    Column("customer_id", Integer, ForeignKey("customers.customer_id")),  # set when won
    Column("owner_id", Integer, ForeignKey("employees.employee_id")),
    Column("product_code", String(40)),  # the main service quoted
    Column("amount", Numeric(12, 2)),  # expected first-year value as now quoted
    Column("stage", String(20), nullable=False),  # new | qualified | proposal | negotiation | won | lost
    Column("expected_close_date", Date),
    Column("closed_at", DateTime),  # won or lost
    Column("lost_reason", String(60)),
    *_audit_columns(),
)

# One row per stage change (the stage entered); opportunities may skip a stage or move back.
opportunity_stage_history = Table(
    "opportunity_stage_history",
    metadata,
    Column("stage_change_id", Integer, primary_key=True),
    Column("opportunity_id", Integer, ForeignKey("opportunities.opportunity_id"), nullable=False),
    Column("stage", String(20), nullable=False),  # the stage entered
    Column("changed_at", DateTime, nullable=False),
    Column("changed_by", Integer, ForeignKey("employees.employee_id")),
    Column("amount", Numeric(12, 2)),  # the opportunity's amount after the change
    *_audit_columns(),
)

contracts = Table(
    "contracts",
    metadata,
    Column("contract_id", Integer, primary_key=True),
    Column("contract_number", String(30), nullable=False),  # business id, e.g. HT00000123
    Column("customer_id", Integer, ForeignKey("customers.customer_id"), nullable=False),
    Column("opportunity_id", Integer, ForeignKey("opportunities.opportunity_id")),  # the deal that won it
    Column("product_code", String(40), nullable=False),  # the service contracted
    Column("owner_id", Integer, ForeignKey("employees.employee_id")),  # the account's sales rep
    Column("agent_id", Integer, ForeignKey("employees.employee_id")),  # the accountant delivering it
    Column("signed_at", DateTime),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),  # last day of the term
    Column("billing_period", String(20), nullable=False),  # monthly | quarterly | annual
    Column("fee", Numeric(12, 2), nullable=False),  # per billing period
    Column("auto_renew", Boolean, nullable=False),
    Column("renewal_fee", Numeric(12, 2)),  # fee quoted for the next term (set by the renewal notice)
    Column("renewal_notice_at", DateTime),
    Column("renewed_from_contract_id", Integer, ForeignKey("contracts.contract_id")),
    Column("status", String(20), nullable=False),  # active | renewed | expired | terminated
    Column("terminated_at", Date),  # ended before its end date
    Column("termination_reason", String(60)),
    *_audit_columns(),
)

# A service order fulfils one sold order line through the steps of its process (warehouse/core/rules/service_sla.toml).
service_orders = Table(
    "service_orders",
    metadata,
    Column("service_order_id", Integer, primary_key=True),
    Column("service_order_number", String(30), nullable=False),  # business id, e.g. SV00000123
    Column("order_id", Integer, ForeignKey("orders.order_id")),  # the sales order (invoice) it fulfils
    Column("contract_id", Integer, ForeignKey("contracts.contract_id")),
    Column("customer_id", Integer, ForeignKey("customers.customer_id")),
    Column("product_code", String(40), nullable=False),
    Column("process", String(40), nullable=False),
    Column("agent_id", Integer, ForeignKey("employees.employee_id")),
    Column("opened_at", DateTime, nullable=False),
    Column("closed_at", DateTime),
    Column("status", String(20), nullable=False),  # open | done
    *_audit_columns(),
)

# One row per process step once it has started; due_at comes from the step's SLA.
service_steps = Table(
    "service_steps",
    metadata,
    Column("step_id", Integer, primary_key=True),
    Column("service_order_id", Integer, ForeignKey("service_orders.service_order_id"), nullable=False),
    Column("step_number", SmallInteger, nullable=False),
    Column("step_code", String(40), nullable=False),
    Column("agent_id", Integer, ForeignKey("employees.employee_id")),
    Column("started_at", DateTime, nullable=False),
    Column("due_at", DateTime, nullable=False),
    Column("completed_at", DateTime),
    Column("status", String(20), nullable=False),  # in_progress | done
    *_audit_columns(),
)

# Extraction order: parents before children.
SOURCE_TABLES: tuple[str, ...] = (
    "employees",
    "customers",
    "products",
    "orders",
    "order_lines",
    "payments",
    "service_tickets",
    "interactions",
    "leads",
    "opportunities",
    "opportunity_stage_history",
    "contracts",
    "service_orders",
    "service_steps",
)
# The services agency's tables (empty in a shop's CRM).
SERVICES_TABLES: tuple[str, ...] = SOURCE_TABLES[SOURCE_TABLES.index("leads"):]

# Primary key of each source table (the business key extraction de-duplicates on).
PRIMARY_KEYS: dict[str, str] = {
    name: next(iter(metadata.tables[name].primary_key.columns)).name for name in SOURCE_TABLES
}

-- grain: the core star schema (see docs/ARCHITECTURE.md); created empty, filled by warehouse/core/load.py
create sequence if not exists core.seq_customer_key start 1;
create sequence if not exists core.seq_product_key start 1;
create sequence if not exists core.seq_employee_key start 1;
create sequence if not exists core.seq_channel_key start 1;
create sequence if not exists core.seq_ticket_type_key start 1;
create sequence if not exists core.seq_ticket_status_key start 1;

-- grain: one row per calendar day
create table if not exists core.dim_date (
    date_key integer primary key, date date not null, year integer, quarter integer, month integer,
    month_name varchar, iso_week integer, day_of_week integer, is_weekend boolean
);

-- grain: one row per customer per version (type 2 on segment, city, region, status, sales_rep_id, is_deleted)
create table if not exists core.dim_customer (
    customer_key bigint primary key, customer_id varchar not null, source varchar, name varchar,
    email varchar, phone varchar, city varchar, region varchar, segment varchar,
    acquisition_channel varchar, status varchar, sales_rep_id varchar, signup_date date,
    valid_from timestamp not null, valid_to timestamp, is_current boolean not null,
    is_deleted boolean not null default false,
    _src_id bigint, _created_at timestamp, _updated_at timestamp, _hash varchar, _batch_id varchar
);

-- grain: one row per product per version (type 2 on unit_price, category, is_deleted)
create table if not exists core.dim_product (
    product_key bigint primary key, product_id varchar not null, source varchar, name varchar,
    category varchar, unit_price decimal(18, 2), is_merchandise boolean,
    valid_from timestamp not null, valid_to timestamp, is_current boolean not null,
    is_deleted boolean not null default false,
    _src_id bigint, _created_at timestamp, _updated_at timestamp, _hash varchar, _batch_id varchar
);

-- grain: one row per employee (type 1)
create table if not exists core.dim_employee (
    employee_key bigint primary key, employee_id varchar not null unique, name varchar, role varchar,
    team varchar, region varchar, hire_date date, is_deleted boolean not null default false,
    _src_id bigint, _updated_at timestamp, _batch_id varchar
);

-- grain: one row per sales / contact channel
create table if not exists core.dim_channel (
    channel_key bigint primary key, channel_code varchar not null unique, channel_name varchar
);

-- grain: one row per service ticket type
create table if not exists core.dim_ticket_type (
    ticket_type_key bigint primary key, ticket_type_code varchar not null unique, ticket_type_name varchar
);

-- grain: one row per service ticket status
create table if not exists core.dim_ticket_status (
    ticket_status_key bigint primary key, ticket_status_code varchar not null unique, ticket_status_name varchar
);

-- grain: one row per order line (CRM order lines and file-drop sales lines)
create table if not exists core.fct_sales_line (
    sales_line_id varchar not null, order_id varchar not null, line_number integer,
    order_ts timestamp, date_key integer, customer_key bigint not null, customer_id varchar,
    product_key bigint, product_id varchar, channel_key bigint, employee_key bigint,
    quantity integer, unit_price decimal(18, 4), discount decimal(18, 2), net_amount decimal(18, 2),
    is_return boolean not null, is_cancelled boolean not null, is_merchandise boolean,
    source varchar not null, currency varchar, _batch_id varchar, _updated_at timestamp, _hash varchar
);

-- grain: one row per service ticket
create table if not exists core.fct_service_ticket (
    ticket_id varchar not null, customer_key bigint not null, customer_id varchar, agent_key bigint,
    ticket_type_key bigint, ticket_status_key bigint, channel_key bigint, ticket_type varchar,
    status varchar, channel varchar, priority varchar, order_id varchar, opened_at timestamp,
    first_response_at timestamp, resolved_at timestamp, first_response_hours double,
    resolution_hours double, sla_breached boolean, satisfaction smallint, opened_date_key integer,
    _batch_id varchar, _updated_at timestamp, _hash varchar
);

-- grain: one row per customer contact (interaction)
create table if not exists core.fct_interaction (
    interaction_id varchar not null, customer_key bigint not null, customer_id varchar,
    employee_key bigint, channel_key bigint, interaction_type varchar, channel varchar,
    occurred_at timestamp, date_key integer, outcome varchar,
    _batch_id varchar, _updated_at timestamp, _hash varchar
);

-- grain: one row per payment due
create table if not exists core.fct_payment (
    payment_id varchar not null, order_id varchar, customer_key bigint not null, customer_id varchar,
    due_date date, paid_at timestamp, amount decimal(18, 2), method varchar, days_late integer,
    _batch_id varchar, _updated_at timestamp, _hash varchar
);

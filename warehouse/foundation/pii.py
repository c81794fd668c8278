"""Personal data in text values: one definition for the door (staging masks it) and the last line (the
publish guard refuses it).

The rules are the publish guard's (``settings.publish``): a value *containing* an e-mail address, or a
whole value shaped like a phone number (digits with + ( ) - . or spaces, within the digit bounds, not a
date). At the door, staging also masks an international number inside a longer text
(``settings.pii.embedded_phone_pattern``). Staging SQL calls three temporary macros that
:func:`install_pii_macros` defines on the connection from the settings:

- ``_crmwh_mask_pii(s)``: ``s`` with e-mail addresses and phone numbers replaced by the masks;
- ``_crmwh_pseudonym(s)``: an identifier that is an e-mail or a phone becomes ``pii-<hash>``;
- ``_crmwh_has_pii(s)``: true when ``s`` holds either (the guard's test).
"""

from __future__ import annotations

import duckdb

from warehouse.foundation.settings import PublishSettings, Settings
from warehouse.foundation.sqltext import quote_literal


def pii_predicates(cfg: PublishSettings, value: str) -> dict[str, str]:
    """SQL predicates on one text value: contains an e-mail; is shaped like a phone number.

    Written as CASE so the cheap test runs on every value and the costly ones only on candidates.
    """
    digits = f"length(regexp_replace({value}, '[^0-9]', '', 'g'))"
    return {
        "contain an e-mail address": (
            f"(case when contains({value}, '@') "
            f"then regexp_matches({value}, {quote_literal(cfg.pii_email_pattern)}) else false end)"
        ),
        "look like phone numbers": (
            f"(case when regexp_full_match({value}, {quote_literal(cfg.pii_phone_pattern)}) then"
            f" not regexp_full_match({value}, {quote_literal(cfg.pii_phone_exclude_pattern)})"
            f" and {digits} between {int(cfg.pii_phone_min_digits)} and {int(cfg.pii_phone_max_digits)}"
            f" and (regexp_matches({value}, '[ ().+-]') or {digits} >= {int(cfg.pii_bare_digits_min)})"
            " else false end)"
        ),
    }


def install_pii_macros(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Define the staging macros of this module on ``con`` (temporary, per connection; idempotent)."""
    cfg, door = settings.publish, settings.pii
    predicates = pii_predicates(cfg, "s")
    email, phone = predicates["contain an e-mail address"], predicates["look like phone numbers"]
    emails_masked = (f"(case when contains(s, '@') then regexp_replace(s, {quote_literal(cfg.pii_email_pattern)}, "
                     f"{quote_literal(door.email_mask)}, 'g') else s end)")
    con.execute(f"create or replace temp macro _crmwh_has_pii(s) as ({email} or {phone})")
    con.execute(f"""create or replace temp macro _crmwh_mask_pii(s) as (
        case when s is null then null
             when {phone} then {quote_literal(door.phone_mask)}
             when contains(s, '@') or contains(s, '+') then
                 regexp_replace({emails_masked}, {quote_literal(door.embedded_phone_pattern)},
                                {quote_literal(door.phone_mask)}, 'g')
             else s end)""")
    con.execute(f"""create or replace temp macro _crmwh_pseudonym(s) as (
        case when s is not null and ({email} or {phone})
             then {quote_literal(door.pseudonym_prefix)} || left(md5(lower(s)), 16) else s end)""")


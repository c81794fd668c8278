-- Staging's one definition of "stray white space": every staging file cleans codes and names with
-- staging.clean_text(s) (trim() alone strips spaces only, so 'P2<tab>' stayed a product code of its own).
-- Strips leading/trailing spaces, tabs, CR/LF, vertical tab, form feed, NEL, non-breaking and other
-- Unicode spaces, zero-width space and BOM; an empty result is NULL. Most values start and end with a
-- printable ASCII character and are returned as they are. The others go through one regular expression
-- (RE2 escapes, ASCII text): trim() with a character list built by chr() concatenations cost 5x the time
-- on such values, and folding those 27 constants again at every use of the macro took 1.5 ms of planning
-- each (a staging statement uses it up to 22 times).
create or replace macro staging.clean_text(s) as (
    case when ord(s::varchar) between 33 and 126 and ord((s::varchar)[-1:]) between 33 and 126 then s::varchar
         else nullif(regexp_replace(s::varchar, '^[\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200B}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}]+|[\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200B}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}]+$', '', 'g'), '') end);

-- Timestamps in staging are naive UTC: a text with a zone (Z, +02:00, -0500, +01, UTC, Europe/Berlin)
-- is parsed with its zone and converted to UTC; a text without one is taken as UTC already. NULL when
-- it does not parse (validation quarantines it: parse_<column>). A plain cast to TIMESTAMP would drop
-- the offset silently; a cast to TIMESTAMPTZ would read zone-less text in the session's time zone.
create or replace macro staging.utc_timestamp(s) as (
    case when ord((s::varchar)[-1:]) between 48 and 57 and not contains(s::varchar, '+')
              and not contains((s::varchar)[11:], '-')
         then try_cast(staging.clean_text(s) as timestamp)  -- fast path: ends in a digit, no offset sign
         when regexp_matches(staging.clean_text(s),
                             '[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)?\s*([zZ]|[+-][0-9]{1,2}(:?[0-9]{2})?|[A-Za-z][A-Za-z0-9_/+-]*)$')
         then timezone('UTC', try_cast(staging.clean_text(s) as timestamptz))
         else try_cast(staging.clean_text(s) as timestamp) end);

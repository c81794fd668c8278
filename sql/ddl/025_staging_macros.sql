-- Staging's one definition of "stray white space": every staging file cleans codes and names with
-- staging.clean_text(s) (trim() alone strips spaces only, so 'P2<tab>' stayed a product code of its own).
-- Strips leading/trailing spaces, tabs, CR/LF, vertical tab, form feed, NEL, non-breaking and other
-- Unicode spaces, zero-width space and BOM; an empty result is NULL.
create or replace macro staging.clean_text(s) as nullif(trim(s::varchar,
    chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(133) || chr(160) || chr(5760)
    || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199)
    || chr(8200) || chr(8201) || chr(8202) || chr(8203) || chr(8232) || chr(8233) || chr(8239) || chr(8287)
    || chr(12288) || chr(65279)), '');

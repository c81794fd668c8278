"""The one JSON style of every ``--json`` (and ``crmwh query --format json``).

Every command prints exactly ONE JSON document on stdout and nothing else there (messages go to
stderr):

- a list (batches, quarantined rows, query rows, replay results) is an array of objects, one object
  per line, so it streams and greps well and still parses as one document::

      [
        {"batch_id": "...", "status": "succeeded", ...},
        {"batch_id": "...", "status": "failed", ...}
      ]

- a single result (a pipeline summary) is one object, indented by two spaces;
- UTF-8 text as is (no ``\\u`` escapes), dates and times in ISO 8601 (``2025-12-31T23:59:59``),
  decimals as numbers, binary as hex, NULL as ``null``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any


def plain(value: Any) -> Any:
    """A value JSON can hold, by the rules above."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [plain(v) for v in items]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def dumps_compact(value: Any) -> str:
    return json.dumps(plain(value), ensure_ascii=False, allow_nan=False)


def write_rows(rows: Iterable[Any], out: IO[str]) -> int:
    """An array, one object per line; streams ``rows`` (any iterable). Returns the number written."""
    written = 0
    out.write("[")
    for row in rows:
        out.write(("," if written else "") + "\n  " + dumps_compact(row))
        written += 1
    out.write("\n]\n" if written else "]\n")
    return written


def write_document(value: Any, out: IO[str]) -> None:
    """One object (or any single value), indented by two spaces."""
    out.write(json.dumps(plain(value), ensure_ascii=False, allow_nan=False, indent=2) + "\n")

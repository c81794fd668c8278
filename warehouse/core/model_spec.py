"""SQL models that declare themselves: the header of a model file under ``sql/`` parsed into a typed spec.

A model is a ``.sql`` file whose leading comment block holds a ``-- model:`` line. The header is the
comment lines before the first line of SQL; a tag line is ``-- <tag>: <value>``, a line indented by two
or more spaces after ``--`` continues the tag above it, any other comment line is prose. Tags:

- ``model``: the table it writes, ``schema.table`` (several models may write one table: their rows
  are unioned before the write, e.g. the CRM and the file-drop versions of ``core.dim_customer``).
- ``grain``: one row per what (free text).
- ``inputs``: what it reads, comma-separated: tables (``staging.stg_crm__payments``, ``core.dim_employee``)
  and per-run relations (names starting with ``_``, declared in :mod:`warehouse.foundation.run_relations`); text in
  brackets after a name is a note.
- ``write``: ``replace`` | ``append`` | ``upsert key=<id> [hash_exclude=<col>,<col>]`` |
  ``scd2 spec=<customer|product>`` (type-2 merge, ``warehouse.core.scd2.merge_scd2``) | ``custom`` (written by
  the Python function named in the prose).
- ``requires`` (optional): the input tables whose absence skips the model (default: every ``staging.``
  input); ``drivers`` (optional): the model runs only when one of these got rows in ``_load_batches``.
- ``params`` (optional): the ``$name`` parameters it binds (checked against the SQL).

Pure parsing, no I/O beyond reading the file: safe to import while an Airflow DAG file is parsed
(``warehouse.ops.assets`` declares the core Assets from these headers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from warehouse.foundation.settings import SQL_DIR

WRITE_STRATEGIES = ("replace", "append", "upsert", "scd2", "custom")
TAGS = ("model", "grain", "inputs", "write", "requires", "drivers", "params")
_TAG = re.compile(r"^--\s?([a-z_]+):\s*(.*)$")
_CONTINUATION = re.compile(r"^--\s{2,}(\S.*)$")


class ModelHeaderError(ValueError):
    """A model file whose header does not declare what the writer needs."""


@dataclass(frozen=True)
class Write:
    """How a model's rows are written to its table."""

    strategy: str
    key: str | None = None  # upsert: the id column
    hash_exclude: tuple[str, ...] = ()  # upsert: columns set later (at a cut-off), outside the content hash
    spec: str | None = None  # scd2: which dimension spec (``customer`` / ``product``)


@dataclass(frozen=True)
class Model:
    """One SQL model: where it is, what it writes and reads, how."""

    path: Path
    name: str  # path under the SQL dir without ``.sql`` (``core/fct_payment``)
    target: str  # schema.table
    grain: str
    inputs: tuple[str, ...]
    write: Write
    requires: tuple[str, ...]
    drivers: tuple[str, ...]
    params: tuple[str, ...]
    sql: str

    @property
    def table(self) -> str:
        return self.target.split(".", 1)[1]

    @property
    def schema(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def run_relations(self) -> tuple[str, ...]:
        """The per-run relations it reads (``_load_batches``, ...)."""
        return tuple(i for i in self.inputs if i.startswith("_"))

    @property
    def tables(self) -> tuple[str, ...]:
        """The warehouse tables it reads."""
        return tuple(i for i in self.inputs if not i.startswith("_"))


def _names(value: str) -> tuple[str, ...]:
    """A comma-separated list, notes in brackets dropped."""
    value = re.sub(r"\([^)]*\)", "", value)
    return tuple(n.strip() for n in value.split(",") if n.strip())


def _header_tags(text: str, where: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        stripped = line.rstrip()
        if not stripped.startswith("--"):
            break
        if (m := _CONTINUATION.match(stripped)) and last is not None:
            tags[last] += " " + m.group(1)
            continue
        m = _TAG.match(stripped)
        if m and m.group(1) in TAGS:
            if m.group(1) in tags:
                raise ModelHeaderError(f"{where}: tag {m.group(1)!r} declared twice")
            last = m.group(1)
            tags[last] = m.group(2).strip()
        else:
            last = None  # prose
    return tags


def parse_write(value: str, where: str = "model") -> Write:
    """``upsert key=payment_id hash_exclude=days_late`` -> :class:`Write`."""
    words = value.split()
    if not words or words[0] not in WRITE_STRATEGIES:
        raise ModelHeaderError(f"{where}: write must start with one of {', '.join(WRITE_STRATEGIES)}, got {value!r}")
    strategy = words[0]
    options: dict[str, str] = {}
    for word in words[1:]:
        if "=" not in word:
            raise ModelHeaderError(f"{where}: write option {word!r} is not name=value")
        name, _, option = word.partition("=")
        options[name] = option
    allowed = {"upsert": {"key", "hash_exclude"}, "scd2": {"spec"}}.get(strategy, set())
    if unknown := set(options) - allowed:
        raise ModelHeaderError(f"{where}: write {strategy} takes no option {', '.join(sorted(unknown))}")
    if strategy == "upsert" and not options.get("key"):
        raise ModelHeaderError(f"{where}: write upsert needs key=<id column>")
    if strategy == "scd2" and not options.get("spec"):
        raise ModelHeaderError(f"{where}: write scd2 needs spec=<dimension>")
    exclude = tuple(c for c in options.get("hash_exclude", "").split(",") if c)
    return Write(strategy, key=options.get("key"), hash_exclude=exclude, spec=options.get("spec"))


def parse_model(path: Path, sql_dir: Path = SQL_DIR) -> Model:
    """Parse the header of one model file (:class:`ModelHeaderError` when it is incomplete)."""
    text = path.read_text(encoding="utf-8")
    where = str(path)
    tags = _header_tags(text, where)
    for required in ("model", "grain", "inputs", "write"):
        if not tags.get(required):
            raise ModelHeaderError(f"{where}: header lacks '-- {required}:'")
    target = tags["model"]
    if not re.fullmatch(r"[a-z_]+\.[a-z_0-9]+", target):
        raise ModelHeaderError(f"{where}: model must be schema.table, got {target!r}")
    inputs = _names(tags["inputs"])
    requires = _names(tags.get("requires", "")) or tuple(i for i in inputs if i.startswith("staging."))
    drivers = _names(tags.get("drivers", ""))
    for listed, tag in ((requires, "requires"), (drivers, "drivers")):
        if missing := [t for t in listed if t not in inputs]:
            raise ModelHeaderError(f"{where}: {tag} names tables not in inputs: {', '.join(missing)}")
    params = _names(tags.get("params", ""))
    used_params = set(re.findall(r"\$([a-z_]+)", text))
    if used_params != set(params):
        raise ModelHeaderError(f"{where}: params declared {sorted(params)} but the SQL binds {sorted(used_params)}")
    name = path.resolve().relative_to(sql_dir.resolve()).with_suffix("").as_posix()
    return Model(path=path, name=name, target=target, grain=tags["grain"], inputs=inputs,
                 write=parse_write(tags["write"], where), requires=requires, drivers=drivers, params=params,
                 sql=text)


def is_model(path: Path) -> bool:
    """True when the file's header declares a model (a ``-- model:`` line)."""
    return "model" in _header_tags(path.read_text(encoding="utf-8"), str(path))


def load_model(name: str, sql_dir: Path = SQL_DIR) -> Model:
    """The model ``<sql dir>/<name>.sql`` (``core/fct_payment``)."""
    return parse_model(sql_dir / f"{name}.sql", sql_dir)


def discover(folder: str, sql_dir: Path = SQL_DIR) -> list[Model]:
    """Every model under ``<sql dir>/<folder>`` (files without a ``-- model:`` line are not models)."""
    return [parse_model(p, sql_dir) for p in sorted((sql_dir / folder).rglob("*.sql")) if is_model(p)]


def model_tables(folder: str, prefix: str, sql_dir: Path = SQL_DIR) -> tuple[str, ...]:
    """The tables the models of ``folder`` write whose name starts with ``prefix``, each once, in file order."""
    return tuple(dict.fromkeys(m.table for m in discover(folder, sql_dir) if m.table.startswith(prefix)))


def discover_target(target: str, sql_dir: Path = SQL_DIR) -> list[Model]:
    """Every model writing ``schema.table`` (its rows are unioned before the write), in file order."""
    return [m for m in discover(target.split(".")[0], sql_dir) if m.target == target]

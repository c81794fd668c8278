"""Errors the command line reports as one clear line instead of a traceback."""

# the base is the transforms' one (re-exported): both layers raise the same kind of error
from transforms.errors import CrmwhError as CrmwhError


class SourceError(CrmwhError):
    """A source (database or file drop) cannot be read as its profile says."""


class RejectedBatchError(CrmwhError):
    """A whole batch is refused (empty file, missing required column, ...); nothing of it is loaded."""


class CriticalValidationError(CrmwhError):
    """A critical table-level rule failed: the task fails and nothing downstream runs or publishes."""


class PipelineBusyError(CrmwhError):
    """Another pipeline run holds the warehouse write lock."""


class ReadOnlyError(CrmwhError):
    """A write was attempted on a read-only (published) database."""


class CorruptFileError(CrmwhError):
    """A DuckDB or Parquet file of the warehouse cannot be read: truncated or damaged on disk."""


class StorageError(CrmwhError):
    """The disk refused a read or write: full, read-only, or no permission."""


def original_error(exc: BaseException) -> BaseException:
    """The failure that started it: a rollback that fails after a failed COMMIT (DuckDB has already
    ended the transaction) masks the real error, e.g. a full disk, which stays in ``__context__``."""
    seen = {id(exc)}
    while ("no transaction is active" in str(exc) and exc.__context__ is not None
           and id(exc.__context__) not in seen):
        exc = exc.__context__
        seen.add(id(exc))
    return exc

"""Errors the command line reports as one clear line instead of a traceback."""


class CrmwhError(Exception):
    """Base class for expected, user-facing failures."""


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

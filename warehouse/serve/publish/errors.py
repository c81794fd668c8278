"""What a refused or failed publish raises; the published version stays as it was in every case."""

from __future__ import annotations

from warehouse.foundation.errors import CrmwhError


class PublishError(CrmwhError):
    """Publishing could not complete; the previously published version stays in place."""


class PiiLeakError(PublishError):
    """A published column would hold personal data (names, e-mails, phones): publishing is refused."""

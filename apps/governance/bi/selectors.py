"""BI credentials: reads."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.core.exceptions import NotFound
from apps.governance.models import BiCredential


def bi_credential_list() -> QuerySet[BiCredential]:
    return BiCredential.objects.all()


def bi_credential_get(*, credential_id: Any) -> BiCredential:
    try:
        pk = int(credential_id)
        if not 0 < pk < 2**63:
            raise ValueError(credential_id)
        return BiCredential.objects.get(pk=pk)
    except (BiCredential.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No BI credential {credential_id!r}.") from None

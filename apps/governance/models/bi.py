"""BI credentials: PostgreSQL login roles that read a tenant's BI views (see apps/governance/bi)."""

from __future__ import annotations

from django.db import models


class BiCredential(models.Model):
    """One login role of the database cluster, for one tenant. The password is never stored (the
    server keeps its SCRAM verifier); a revoked credential keeps its row, its role is dropped."""

    name = models.CharField(max_length=100)
    # Unique in the whole cluster (roles are not per database): bi_<slug>_<random>.
    role_name = models.CharField(max_length=63, unique=True)
    statement_timeout_ms = models.PositiveIntegerField()
    connection_limit = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "governance_bi_credentials"
        ordering = ["-id"]
        verbose_name = "BI credential"

    def __str__(self) -> str:
        return f"{self.name} ({self.role_name})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

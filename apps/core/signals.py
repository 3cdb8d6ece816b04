"""Signals a lower layer sends so a higher one can act without being imported (DESIGN §2)."""

from django.dispatch import Signal

# A change worth the audit log that is not a plain model save or delete: an export run, a person
# deleted or anonymised, a key issued or revoked, a share link made. Sent in the tenant's schema
# (or with `schema_name=` when sent from the public schema) with keyword arguments:
#   action: str            e.g. "export_run", "person_deleted", "key_issued", "share_link_created"
#   object_type: str       e.g. "person", "api_key", "dashboard"
#   object_id: str         the object's id or key prefix
#   object_repr: str = ""  a short human label
#   changes: dict = {}     {field: [old, new]} or details of the action
#   schema_name: str|None  the tenant schema to record in when not the current one
# The governance app records it (apps/governance); with no receiver nothing happens.
audit_event = Signal()

"""The audit log (docs/governance.md, "Audit log"): who changed what, when, from where.

context.py   who is acting (a request's key or console user, a command, a worker) and from where
capture.py   model signal receivers and the `audit_event` receiver: what gets recorded
services.py  writing entries, the retention purge
selectors.py reading entries (the API and the console)
tasks.py     the beat task purging every tenant
admin.py     the console's read-only page
"""

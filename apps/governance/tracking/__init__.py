"""The tracking plan (docs/governance.md, "Tracking plan"): definitions, the check registered on
every ingestion path, violation counts and samples."""

"""Usage feeds: CDR and usage-record ingest, services, per-minute activity."""

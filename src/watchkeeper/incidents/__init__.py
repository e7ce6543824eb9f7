"""Incidents: alerts grouped, with a lifecycle and an append-only timeline."""

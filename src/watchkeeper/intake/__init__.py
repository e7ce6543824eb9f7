"""Intake from the monitors people already run: Alertmanager, PagerDuty Events v2, generic JSON."""

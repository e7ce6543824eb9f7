"""Health checks, a signal domain: heartbeats pinged by cron and backup jobs (the
Healthchecks ping API), active probes (HTTP, TCP, TLS, DNS, SIP OPTIONS) and PBX
health over the Asterisk Manager Interface. Like every signal, a check only says
what it found (`watchkeeper.finding.Finding`); the job or route that runs it hands
the findings to alerts (watchkeeper.wiring), so routing, silences, maintenance
windows, dependencies and support plans apply to checks unchanged."""

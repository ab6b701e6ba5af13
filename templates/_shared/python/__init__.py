"""Observability shared by every service of the golden path: JSON logs, traces, metrics, probes.

Each module is plain Python with no template logic, so it reads, type-checks and tests like the
rest of the service; the platform team keeps one copy of it for every template.
"""

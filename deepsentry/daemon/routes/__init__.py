"""The daemon's routes, one module per group; ``ROUTES`` is the table ``create_app`` registers."""

from __future__ import annotations

from typing import Callable

from deepsentry.daemon.routes import analyze, jobs, meta, provenance, report

ROUTES: list[tuple[str, str, Callable]] = [
    ("GET", "/v1/health", meta.health),
    ("GET", "/v1/info", meta.info),
    ("POST", "/v1/pair", meta.pair),
    ("POST", "/v1/analyze", analyze.analyze),
    ("POST", "/v1/verify", provenance.verify_route),
    ("POST", "/v1/generate", provenance.generate_route),
    ("POST", "/v1/report", report.report_route),
    ("GET", "/v1/jobs/{job_id}", jobs.job_status),
    ("GET", "/v1/jobs/{job_id}/events", jobs.job_events),
    ("GET", "/v1/jobs/{job_id}/file", jobs.job_file),
    ("GET", "/v1/openapi.json", meta.openapi),
]

"""Typed keys for what the daemon keeps on its aiohttp application."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from deepsentry.daemon.auth import PairingLimiter
from deepsentry.daemon.jobs import JobManager
from deepsentry.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
TOKEN = web.AppKey("token", str)
JOBS = web.AppKey("jobs", JobManager)
ANALYZER = web.AppKey("analyzer", Any)          # deepsentry.detector.pipeline.Analyzer, loaded at start
# {"status": "starting"|"ready"|"disabled"|"unavailable"|"error", "error": str, "client": RegistryClient}
LEDGER_STATE = web.AppKey("ledger_state", dict)
PAIRING = web.AppKey("pairing", PairingLimiter)

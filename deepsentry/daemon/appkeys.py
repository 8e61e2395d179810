"""Typed keys for what the daemon keeps on its aiohttp application."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from deepsentry.daemon.auth import PairingLimiter
from deepsentry.daemon.jobs import JobManager
from deepsentry.daemon.ledger_service import LedgerService
from deepsentry.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
TOKEN = web.AppKey("token", str)
JOBS = web.AppKey("jobs", JobManager)
ANALYZER = web.AppKey("analyzer", Any)          # deepsentry.detector.pipeline.Analyzer, loaded at start
LEDGER = web.AppKey("ledger", LedgerService)
PAIRING = web.AppKey("pairing", PairingLimiter)
# JSON bodies over 1 MB being read at once (each is buffered whole): bounds the memory they take
BIG_BODIES = web.AppKey("big_bodies", asyncio.Semaphore)

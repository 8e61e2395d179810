"""The local detection daemon (aiohttp): ``create_app(settings)`` and ``run(settings)``."""

from deepsentry.daemon.app import create_app, run

__all__ = ["create_app", "run"]

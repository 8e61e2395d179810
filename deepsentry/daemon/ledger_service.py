"""The daemon's view of the ledger: starts (or connects to) the node in the background, keeps the
registry client once it answers, delivers the outbox now and then, and closes the node on shutdown.

Detection never waits for it: until the node answers, provenance checks C2PA and the watermark only.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from deepsentry.settings import Settings

log = logging.getLogger("deepsentry.daemon")


class LedgerService:
    """``status``: "disabled" | "unavailable" | "starting" | "ready" | "error"; ``client`` once ready."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.status = "disabled"
        self.error: str | None = None
        self._reported = False         # whether "error" belongs in to_json (once the node was reached or failed)
        self.client: Any = None
        self._task: asyncio.Task | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, **({"error": self.error} if self._reported else {})}

    async def start(self) -> None:
        if not self.settings.ledger_enabled:
            self.status = "disabled"
            return
        from deepsentry.ledger import open_registry

        self._task = asyncio.create_task(self._loop(open_registry))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        client, self.client = self.client, None
        if client is not None:
            await asyncio.get_running_loop().run_in_executor(None, client.close)

    async def _loop(self, open_registry) -> None:
        loop = asyncio.get_running_loop()
        self.status = "starting"
        delay = 2.0
        while True:
            try:
                if self.client is None:
                    self.client = await loop.run_in_executor(None, open_registry, self.settings)
                    self.status, self.error, self._reported = "ready", None, True
                await loop.run_in_executor(None, self.client.flush_outbox)
                delay = 10.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep serving detection when the node is down
                self.status, self.error, self._reported = "error", str(exc), True
                log.warning("ledger unavailable: %s", exc)
                delay = min(60.0, delay * 2)
            await asyncio.sleep(delay)

    def provenance_of(self, path: Path) -> dict:
        """The provenance block for an analysed file, with the ledger once it answers."""
        from deepsentry.analysis import provenance_block

        settings = self.settings if self.client is not None else self.settings.replace(ledger_enabled=False)
        return provenance_block(path, settings, client=self.client, source=None)

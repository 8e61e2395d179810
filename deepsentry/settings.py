"""Settings, built once and passed down.

Everything has an embedded default so ``deepsentry serve`` works with no configuration. Values come, in
order of precedence, from explicit keyword overrides, environment variables (``DEEPSENTRY_*``), the
optional ``settings.json`` in the config dir, then the defaults below.

Directories: ``DEEPSENTRY_HOME`` (if set) holds ``config/`` and ``data/``; otherwise the XDG dirs
(``~/.config/deepsentry`` and ``~/.local/share/deepsentry``) are used. Tests point ``DEEPSENTRY_HOME`` at a
temporary directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepsentry.errors import BadRequest

# The extension's stable id follows from the public key in extension/manifest.json.
EXTENSION_ID = "aflmeaedhgdnmnldchfjaefkdijnlbgp"
# Firefox gives each install a random moz-extension://<uuid> origin, so any Firefox extension origin is
# accepted; it still needs the pairing token. A trailing "*" makes an entry a prefix match.
DEFAULT_EXTENSION_ORIGINS = (
    f"chrome-extension://{EXTENSION_ID}",
    "moz-extension://*",
)


def origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        if entry.endswith("*") and origin.startswith(entry[:-1]) and len(origin) > len(entry) - 1:
            return True
        if origin == entry:
            return True
    return False


def _home() -> Path | None:
    home = os.environ.get("DEEPSENTRY_HOME")
    return Path(home).expanduser() if home else None


def default_config_dir() -> Path:
    home = _home()
    if home:
        return home / "config"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "deepsentry"


def default_data_dir() -> Path:
    home = _home()
    if home:
        return home / "data"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "deepsentry"


@dataclass(frozen=True)
class Limits:
    """Caps on what any input may cost. Exceeding one is a clear ``too_large`` error, never a decode."""

    max_bytes: int = 512 * 1024 * 1024          # uploaded or downloaded file
    max_pixels: int = 40_000_000                 # per frame (e.g. 8K is 33 Mpx)
    max_duration_s: float = 3 * 3600.0           # video length
    max_frames: int = 64                         # frames sampled per video for analysis
    sample_fps: float = 2.0                      # frames sampled per second of video
    max_request_frames: int = 64                 # frames the extension may send in one request
    max_request_pixels: int = 80_000_000         # pixels all frames of one request decode to, together
    max_queued_bytes: int = 256 * 1024 * 1024    # encoded frames held by queued jobs, all requests together
    fetch_timeout_s: float = 60.0                # whole URL fetch


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    config_dir: Path = field(default_factory=default_config_dir)
    data_dir: Path = field(default_factory=default_data_dir)
    device: str = "auto"                         # "auto", "cpu", "cuda", "cuda:1"
    workers: int = 1                             # analysis jobs run at once
    torch_threads: int = 0                       # CPU threads for torch; 0: the idle cores, per analysis
    face_key_every: int = 4                      # whole-frame face search on every Nth sampled frame (1: all)
    queue_size: int = 16                         # jobs waiting before 429
    allowed_origins: tuple[str, ...] = DEFAULT_EXTENSION_ORIGINS
    url_allowlist: tuple[str, ...] = ()          # "host" or "host:port" exempt from the private-address check
    detector_weights: Path | None = None         # None: the weights shipped in the package
    limits: Limits = field(default_factory=Limits)
    # ledger: None means the embedded anvil node the daemon starts itself
    ledger_rpc_url: str | None = None
    ledger_chain_id: int | None = None
    ledger_enabled: bool = True
    ledger_contract: str | None = None           # pin the registry contract's address (else deployed once)
    fault_point: str | None = None               # crash tests only: kill node and process at this point of a
                                                 # registration ("journaled", "sent", "registered")
    anvil_path: str | None = None                # the anvil binary to run (else found in node_modules or PATH)
    wm_refine: str | None = None                 # watermark refinement steps on every video key frame
                                                 # (checked where it is used; None: the device's budget)
    wm_threads: int | None = None                # threads reading and writing watermarked video (None: CPUs, <= 4)

    @property
    def token_path(self) -> Path:
        return self.config_dir / "token"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for k, v in list(out.items()):
            if isinstance(v, Path):
                out[k] = str(v)
        return out


_ENV = {
    "host": ("DEEPSENTRY_HOST", str),
    "port": ("DEEPSENTRY_PORT", int),
    "device": ("DEEPSENTRY_DEVICE", str),
    "workers": ("DEEPSENTRY_WORKERS", int),
    "torch_threads": ("DEEPSENTRY_TORCH_THREADS", int),
    "face_key_every": ("DEEPSENTRY_FACE_KEY_EVERY", int),
    "queue_size": ("DEEPSENTRY_QUEUE_SIZE", int),
    "ledger_rpc_url": ("DEEPSENTRY_LEDGER_RPC", str),
    "ledger_chain_id": ("DEEPSENTRY_LEDGER_CHAIN_ID", int),
    "ledger_contract": ("DEEPSENTRY_LEDGER_CONTRACT", str),
    "fault_point": ("DEEPSENTRY_FAULT_POINT", str),
    "anvil_path": ("DEEPSENTRY_ANVIL", str),
    "wm_refine": ("DEEPSENTRY_WM_REFINE", str),
    "wm_threads": ("DEEPSENTRY_WM_THREADS", int),
}


def _split(v: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in v.split(",") if s.strip())


def load_settings(**overrides: Any) -> Settings:
    """Build the one Settings object: defaults < settings.json < environment < ``overrides``."""
    values: dict[str, Any] = {}
    config_dir = Path(overrides.get("config_dir") or default_config_dir())
    path = config_dir / "settings.json"
    if path.exists():
        try:
            values.update(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise BadRequest(f"cannot read {path}: {exc}", code="bad_settings") from exc
    for name, (var, conv) in _ENV.items():
        if var in os.environ:
            values[name] = conv(os.environ[var])
    if "DEEPSENTRY_URL_ALLOWLIST" in os.environ:
        values["url_allowlist"] = _split(os.environ["DEEPSENTRY_URL_ALLOWLIST"])
    if "DEEPSENTRY_ALLOWED_ORIGINS" in os.environ:
        values["allowed_origins"] = _split(os.environ["DEEPSENTRY_ALLOWED_ORIGINS"])
    if os.environ.get("DEEPSENTRY_LEDGER", "").lower() in ("0", "off", "false", "no"):
        values["ledger_enabled"] = False
    values.update({k: v for k, v in overrides.items() if v is not None})

    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise BadRequest(f"unknown settings: {', '.join(sorted(unknown))}", code="bad_settings")
    for key in ("config_dir", "data_dir", "detector_weights"):
        if values.get(key) is not None:
            values[key] = Path(values[key]).expanduser()
    for key in ("allowed_origins", "url_allowlist"):
        if key in values and isinstance(values[key], (list, str)):
            values[key] = tuple(values[key]) if isinstance(values[key], list) else _split(values[key])
    if isinstance(values.get("limits"), dict):
        values["limits"] = Limits(**values["limits"])
    return Settings(**values)

"""The embedded EVM node: anvil (npm ``@foundry-rs/anvil``) on 127.0.0.1 with a persistent state file.

``start_node`` runs one anvil process with ``--state FILE --state-interval N`` in
``<data_dir>/ledger/``: a clean stop dumps the whole chain to FILE and the next start loads it; a hard
kill loses at most N seconds. ``embedded_node`` lets several deepsentry processes share one node: the
process that takes ``node.lock`` owns the node and publishes its URL in ``node.json``; others reuse it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from deepsentry.errors import LedgerError

DEFAULT_CHAIN_ID = 31337
STATE_INTERVAL_S = 2


def _platform_package() -> str:
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(platform.system(), platform.system().lower())
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"anvil-{system}-{arch}"


def find_anvil() -> Path:
    """Locate the anvil binary without relying on npm's postinstall or the ``bin.mjs`` wrapper.

    Order: ``$DEEPSENTRY_ANVIL``; ``node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil`` in the nearest
    ``node_modules`` above this package or the cwd; ``anvil`` on PATH (e.g. a foundryup install).
    """
    from deepsentry.settings import load_settings

    candidates: list[Path] = []
    env = load_settings().anvil_path
    if env:
        candidates.append(Path(env))
    exe = "anvil.exe" if platform.system() == "Windows" else "anvil"
    seen: set[Path] = set()
    for base in (Path(__file__).resolve().parent, Path.cwd()):
        for d in (base, *base.parents):
            nm = d / "node_modules" / "@foundry-rs"
            if nm in seen:
                continue
            seen.add(nm)
            candidates.append(nm / _platform_package() / "bin" / exe)
    on_path = shutil.which("anvil")
    if on_path:
        candidates.append(Path(on_path))
    for c in candidates:
        if c.is_file():
            if not os.access(c, os.X_OK):
                raise LedgerError(f"{c} is not executable (chmod +x it, or reinstall with scripts/setup.sh)",
                                  code="node_missing")
            return c
    raise LedgerError("anvil not found: run scripts/setup.sh (npm ci installs @foundry-rs/anvil), set "
                      "DEEPSENTRY_ANVIL, or configure ledger_rpc_url for an external node", code="node_missing")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0):
    """One JSON-RPC call with the standard library (used for liveness checks, before web3 exists)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback or configured RPC
        out = json.loads(resp.read())
    if "error" in out:
        raise LedgerError(f"{method} failed: {out['error']}")
    return out["result"]


def node_alive(url: str, timeout: float = 1.0) -> int | None:
    """The node's chain id, or None when nothing answers at ``url``."""
    try:
        return int(rpc_call(url, "eth_chainId", timeout=timeout), 16)
    except (OSError, ValueError, urllib.error.URLError, LedgerError):
        return None


@dataclass
class NodeHandle:
    """A running anvil process started by this process. ``stop()`` is idempotent and saves state."""

    url: str
    chain_id: int
    port: int
    state_path: Path
    process: subprocess.Popen | None
    log_path: Path
    _lock: IO | None = field(default=None, repr=False)
    _info_path: Path | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """Clean stop (SIGINT, as Ctrl-C): anvil writes its state file before exiting."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._info_path is not None:
            with contextlib.suppress(OSError):
                self._info_path.unlink()
            self._info_path = None
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
            self._lock = None

    def kill(self) -> None:
        """Hard kill (tests: simulate a crash). State since the last interval dump is lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        self.stop()

    def __enter__(self) -> "NodeHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort: never leave an orphan anvil behind
        with contextlib.suppress(Exception):
            self.stop(timeout=5)


_BEST_BLOCK = re.compile(rb'"best_block_number"\s*:\s*("0x[0-9a-fA-F]+"|\d+)')


def saved_block(state_path: Path) -> int | None:
    """The best block number in anvil's state file on disk (None when there is no readable file): what
    a restart of the node would come back with."""
    try:
        data = Path(state_path).read_bytes()
    except OSError:
        return None
    found = _BEST_BLOCK.findall(data)
    if not found:
        return None
    v = found[-1].strip(b'"').decode()
    return int(v, 16) if v.startswith("0x") else int(v)


def node_pid(ledger_folder: Path) -> int | None:
    """The pid of the embedded node that ``node.json`` in ``ledger_folder`` names, if any."""
    try:
        return int(json.loads((Path(ledger_folder) / "node.json").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ledger_dir(data_dir: Path) -> Path:
    d = Path(data_dir) / "ledger"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _check_state(state: Path) -> None:
    """Keep a last-known-good copy of the state file; restore it if the current one is unreadable
    (e.g. a power cut while anvil was writing). Without any readable copy, refuse with a clear error."""
    if not state.exists():
        return
    backup = state.with_name(state.name + ".bak")
    try:
        json.loads(state.read_bytes())
    except ValueError:
        try:
            json.loads(backup.read_bytes())
        except (OSError, ValueError):
            raise LedgerError(f"the ledger state file {state} is corrupt and has no readable backup; move it "
                              "away to start an empty chain (registrations in it would be lost)",
                              code="state_corrupt") from None
        broken = state.with_name(f"{state.name}.corrupt-{int(time.time())}")
        os.replace(state, broken)
        shutil.copyfile(backup, state)
        return
    tmp = backup.with_name(backup.name + ".tmp")
    shutil.copyfile(state, tmp)
    os.replace(tmp, backup)


def start_node(data_dir: Path, *, chain_id: int = DEFAULT_CHAIN_ID, port: int | None = None,
               state_interval: int = STATE_INTERVAL_S, wait_s: float = 30.0) -> NodeHandle:
    """Start anvil on 127.0.0.1 with its chain persisted in ``<data_dir>/ledger/anvil-<chain_id>.json``."""
    binary = find_anvil()
    d = ledger_dir(data_dir)
    state = d / f"anvil-{chain_id}.json"
    log_path = d / "anvil.log"
    port = port or free_port()
    cmd = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id),
           "--state", str(state), "--state-interval", str(state_interval), "--accounts", "1",
           "--no-request-size-limit", "--quiet"]
    _check_state(state)
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as exc:
        raise LedgerError(f"cannot start anvil ({binary}): {exc}", code="node_start_failed") from exc
    finally:
        log.close()
    url = f"http://127.0.0.1:{port}"
    handle = NodeHandle(url=url, chain_id=chain_id, port=port, state_path=state, process=proc, log_path=log_path)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-1500:]
            raise LedgerError(f"anvil exited with code {proc.returncode} at start: {tail.strip()}",
                              code="node_start_failed")
        if node_alive(url, timeout=0.5) == chain_id:
            return handle
        time.sleep(0.1)
    handle.stop()
    raise LedgerError(f"anvil did not answer on {url} within {wait_s:.0f} s", code="node_start_failed")


def _stop_orphan(info_path: Path, timeout: float = 20.0) -> None:
    """A node left behind by an owner that died (SIGKILL) still writes the state file: stop it cleanly
    (SIGINT makes it dump its state) before a new one starts on the same file."""
    try:
        info = json.loads(info_path.read_text())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        cmdline = []
    if not cmdline or not Path(cmdline[0].decode(errors="replace")).name.startswith("anvil"):
        return                                   # gone, or the pid was reused by something else
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            try:
                if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                    break                        # exited, waiting to be reaped by its (dead) parent
            except OSError:
                break
            time.sleep(0.1)
        else:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        info_path.unlink()


def embedded_node(data_dir: Path, chain_id: int = DEFAULT_CHAIN_ID, wait_s: float = 30.0) -> tuple[str, NodeHandle | None]:
    """URL of the embedded node for ``data_dir``: reuse the one another process owns, or start and own one.

    Returns ``(url, handle)``; ``handle`` is None when another process owns the node.
    """
    d = ledger_dir(data_dir)
    info_path = d / "node.json"
    lock = open(d / "node.lock", "a+")  # noqa: SIM115 - kept open while we own the node
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Another process owns (or is starting) the node.
            try:
                info = json.loads(info_path.read_text())
                if info.get("chain_id") == chain_id and node_alive(info["url"]) == chain_id:
                    lock.close()
                    return info["url"], None
            except (OSError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                lock.close()
                raise LedgerError("another deepsentry process holds the embedded ledger node but it does not "
                                  f"answer (see {d / 'anvil.log'})", code="node_unreachable")
            time.sleep(0.2)
            continue
        break
    _stop_orphan(info_path)
    try:
        handle = start_node(data_dir, chain_id=chain_id, wait_s=wait_s)
    except BaseException:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        raise
    handle._lock = lock
    handle._info_path = info_path
    info_path.write_text(json.dumps({"url": handle.url, "pid": handle.process.pid, "chain_id": chain_id}))
    return handle.url, handle

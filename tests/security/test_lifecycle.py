"""Start and stop of a real daemon process: leftovers of a killed run are swept, and SIGTERM stops
the embedded ledger node with the daemon."""

from __future__ import annotations

import signal

from tests.security.conftest import DaemonProcess, pid_alive, wait_gone


def test_sigterm_stops_the_ledger_node_and_start_sweeps_upload_leftovers(tmp_path):
    home = tmp_path / "home"
    uploads = home / "data" / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "up-leftover").write_bytes(b"\0" * 4096)           # what a killed daemon left behind
    (uploads / "url-leftover").mkdir()
    (uploads / "url-leftover" / "clip.mp4").write_bytes(b"\0" * 4096)
    d = DaemonProcess(home).start()
    try:
        assert list(uploads.iterdir()) == []
        node = d.node_pid()
        assert pid_alive(node)
    finally:
        rc = d.stop(signal.SIGTERM)
    assert rc == 0, "\n".join(d.lines[-20:])
    assert wait_gone(node, 30), "anvil still runs after the daemon got SIGTERM"
    assert not (home / "data" / "ledger" / "node.json").exists()

"""Node lifecycle with real anvil processes: state across restarts, node down -> outbox -> delivery."""

from __future__ import annotations

import json
import os
import stat

import pytest

from deepsentry.errors import LedgerError
from deepsentry.keys import KeyStore
from deepsentry.ledger import RegistryClient, find_anvil, open_registry, start_node
from deepsentry.ledger import node as node_mod

from ledger_helpers import PASS, clone_keys, make_settings


def test_find_anvil_is_the_platform_binary_and_runs(tmp_path, monkeypatch):
    path = find_anvil()
    assert path.name == "anvil" and os.access(path, os.X_OK)
    assert path.resolve().suffix != ".mjs"          # the binary itself, not npm's node wrapper
    bad = tmp_path / "anvil"
    bad.write_text("#!/bin/sh\n")
    bad.chmod(stat.S_IRUSR)
    monkeypatch.setenv("DEEPSENTRY_ANVIL", str(bad))
    with pytest.raises(LedgerError, match="not executable"):
        find_anvil()


def test_state_survives_a_clean_restart(tmp_path, keyed_settings):
    s = clone_keys(keyed_settings, tmp_path)
    content = os.urandom(32)
    with open_registry(s, passphrase=PASS) as c:
        assert c.node is not None and c.node.running
        address = c.address
        c.register(content, os.urandom(32), 77, b"\x05" * 32, None)
        state = c.node.state_path
    assert state.exists() and json.loads(state.read_text())      # dumped on clean stop
    assert not (s.data_dir / "ledger" / "node.json").exists()
    with open_registry(s, passphrase=PASS) as c:
        assert c.address == address                                # deployed once, remembered
        rec = c.lookup_by_hash(content)
        assert rec is not None and rec.watermark_id == 77
    deployments = json.loads((s.data_dir / "ledger" / "deployments.json").read_text())
    assert deployments["31337"]["address"] == address


def test_node_down_gives_clear_error_and_outbox_delivers_after_restart(tmp_path, monkeypatch, keyed_settings):
    monkeypatch.setattr("deepsentry.ledger.client.BACKOFF_S", (0.05, 0.05, 0.05))
    s = clone_keys(keyed_settings, tmp_path)
    with open_registry(s, passphrase=PASS) as c:
        address, chain_id = c.address, c.chain_id
    node = start_node(s.data_dir)
    node_mod.rpc_call(node.url, "anvil_setBalance", [KeyStore(s.config_dir).address, hex(10**21)])
    try:
        # a client of a node it does not manage (like an external RPC): it must wait for the node to return
        client = RegistryClient.from_url(node.url, chain_id=chain_id, address=address, data_dir=s.data_dir,
                                         keystore=KeyStore(s.config_dir), passphrase=PASS)
        assert client.lookup_by_hash(os.urandom(32)) is None
        node.stop()
        with pytest.raises(LedgerError) as e:
            client.lookup_by_hash(os.urandom(32))
        assert e.value.code == "ledger_unreachable" and node.url in e.value.message
        with pytest.raises(LedgerError):
            client.register(os.urandom(32), os.urandom(32), 5, b"", None, queue_if_down=False)
        content = os.urandom(32)
        rec = client.register(content, os.urandom(32), 4242, b"\x06" * 32, os.urandom(32))
        assert rec.status == "pending" and rec.pending and rec.tx_hash is None
        assert client.flush_outbox() == {"delivered": 0, "failed": 0, "pending": 1}
        # a fresh client (a restarted daemon) still sees the queued registration
        again = RegistryClient.from_url(node.url, chain_id=chain_id, address=address, data_dir=s.data_dir,
                                        keystore=KeyStore(s.config_dir), passphrase=PASS)
        assert again.outbox_counts()["pending"] == 1
        assert again.pending_registration(content).watermark_id == 4242
        node = start_node(s.data_dir, port=node.port)              # the node comes back on the same URL
        assert again.flush_outbox() == {"delivered": 1, "failed": 0, "pending": 0}
        got = again.lookup_by_hash(content)
        assert got.status == "confirmed" and got.watermark_id == 4242 and got.fingerprint_bytes == b"\x06" * 32
        assert again.outbox_counts() == {"pending": 0, "failed": 0}
        assert again.flush_outbox() == {"delivered": 0, "failed": 0, "pending": 0}
    finally:
        node.stop()


def test_hard_kill_keeps_state_up_to_the_last_interval(tmp_path, keyed_settings):
    s = clone_keys(keyed_settings, tmp_path)
    with open_registry(s, passphrase=PASS) as c:
        address = c.address
    node = start_node(s.data_dir, state_interval=1)
    client = RegistryClient.from_url(node.url, chain_id=31337, address=address, data_dir=s.data_dir,
                                     keystore=KeyStore(s.config_dir), passphrase=PASS, embedded=True)
    content = os.urandom(32)
    client.register(content, os.urandom(32), 0, b"", None)
    import time
    time.sleep(2.5)                        # > one state interval
    node.kill()
    node = start_node(s.data_dir)
    try:
        client = RegistryClient.from_url(node.url, chain_id=31337, address=address, data_dir=s.data_dir,
                                         keystore=KeyStore(s.config_dir), passphrase=PASS, embedded=True)
        assert client.lookup_by_hash(content) is not None
    finally:
        node.stop()


def test_unreachable_external_rpc_is_a_clear_error(tmp_path):
    s = make_settings(tmp_path).replace(ledger_rpc_url=f"http://127.0.0.1:{node_mod.free_port()}")
    with pytest.raises(LedgerError) as e:
        open_registry(s, passphrase=PASS)
    assert e.value.code == "ledger_unreachable" and "unreachable" in e.value.message


def test_external_rpc_uses_the_settings_endpoint(tmp_path, keyed_settings):
    s = clone_keys(keyed_settings, tmp_path)
    node = start_node(tmp_path / "elsewhere", chain_id=1337)
    try:
        ext = s.replace(ledger_rpc_url=node.url, ledger_chain_id=1337)
        # external node: the creator account deploys, so it needs funds
        node_mod.rpc_call(node.url, "anvil_setBalance", [KeyStore(s.config_dir).address, hex(10**21)])
        with open_registry(ext, passphrase=PASS) as c:
            assert c.node is None and c.caip2 == "eip155:1337" and not c.embedded
            rec = c.register(os.urandom(32), os.urandom(32), 9, b"", None)
            assert rec.status == "confirmed"
        with pytest.raises(LedgerError) as e:
            open_registry(s.replace(ledger_rpc_url=node.url, ledger_chain_id=5), passphrase=PASS)
        assert e.value.code == "chain_mismatch"
    finally:
        node.stop()


def test_corrupt_state_file_falls_back_to_the_backup(tmp_path, keyed_settings):
    s = clone_keys(keyed_settings, tmp_path)
    content = os.urandom(32)
    with open_registry(s, passphrase=PASS) as c:
        c.register(content, os.urandom(32), 0, b"", None)
        state = c.node.state_path
    with open_registry(s, passphrase=PASS) as c:     # this start keeps a backup of the good state
        assert c.lookup_by_hash(content) is not None
    state.write_text('{"truncated": ')               # e.g. power cut while anvil was writing
    with open_registry(s, passphrase=PASS) as c:
        assert c.lookup_by_hash(content) is not None
    assert list(state.parent.glob(state.name + ".corrupt-*"))
    state.write_text("{")
    state.with_name(state.name + ".bak").write_text("{")
    with pytest.raises(LedgerError) as e:
        open_registry(s, passphrase=PASS)
    assert e.value.code == "state_corrupt" and str(state) in e.value.message


def test_node_orphaned_by_a_killed_owner_is_stopped_cleanly(tmp_path, keyed_settings):
    import signal
    import subprocess
    import sys
    import textwrap

    s = clone_keys(keyed_settings, tmp_path)
    content = os.urandom(32)
    owner = textwrap.dedent(f"""
        import os, sys, time
        from deepsentry.ledger import open_registry
        from deepsentry.settings import load_settings
        s = load_settings(config_dir={str(s.config_dir)!r}, data_dir={str(s.data_dir)!r})
        c = open_registry(s, passphrase={PASS!r})
        c.register(bytes.fromhex({content.hex()!r}), os.urandom(32), 0, b"", None)
        print(c.node.process.pid, flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", owner], stdout=subprocess.PIPE, text=True)
    try:
        anvil_pid = int(proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)          # the daemon dies hard; its anvil lives on
        proc.wait(timeout=10)
        assert os.path.exists(f"/proc/{anvil_pid}")
        with open_registry(s, passphrase=PASS) as c:
            assert c.node is not None                 # we own a fresh node
            assert c.lookup_by_hash(content) is not None   # the orphan dumped its state when stopped
        assert not os.path.exists(f"/proc/{anvil_pid}") or \
            open(f"/proc/{anvil_pid}/stat").read().split(")")[-1].split()[0] == "Z"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_crashed_embedded_node_is_revived_by_flush(tmp_path, keyed_settings, monkeypatch):
    monkeypatch.setattr("deepsentry.ledger.client.BACKOFF_S", (0.05, 0.05, 0.05))
    s = clone_keys(keyed_settings, tmp_path)
    with open_registry(s, passphrase=PASS) as c:
        before = os.urandom(32)
        c.register(before, os.urandom(32), 0, b"", None)
        import time
        time.sleep(2.5)                           # one state dump later...
        c.node.process.kill()                     # ...anvil crashes under a running daemon
        c.node.process.wait(timeout=10)
        content = os.urandom(32)
        assert c.register(content, os.urandom(32), 31337, b"\x07" * 8, None).status == "pending"
        assert c.flush_outbox() == {"delivered": 1, "failed": 0, "pending": 0}
        assert c.node.running and c.lookup_by_hash(content).watermark_id == 31337
        assert c.lookup_by_hash(before) is not None
        info = json.loads((s.data_dir / "ledger" / "node.json").read_text())
        assert info["pid"] == c.node.process.pid and info["url"] == c.url

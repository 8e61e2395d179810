"""``RegistryClient``: the provenance registry contract on an EVM node, plus the local outbox.

Reads use ``contract.caller``-style calls and need no keys. Writes are signed locally with the
creator's account (``deepsentry keys init``) and sent raw, so any JSON-RPC node works, not only anvil.

Node down: every call retries briefly, then raises ``LedgerUnreachable`` (code ``ledger_unreachable``).
``register`` is the exception: by default it stores the registration in the outbox and returns a
``LedgerRecord`` with ``status="pending"``; ``flush_outbox()`` delivers it when the node is back
(the daemon calls it periodically). Contract refusals are never queued: a duplicate raises
``AlreadyRegistered`` (code ``already_registered``, HTTP 409).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from deepsentry.errors import AlreadyRegistered, BadRequest, LedgerError, LedgerUnreachable
from deepsentry.ledger import _abi
from deepsentry.keys import KeyStore
from deepsentry.ledger.node import DEFAULT_CHAIN_ID, NodeHandle, embedded_node, ledger_dir
from deepsentry.ledger.outbox import Outbox
from deepsentry.records import Record

ZERO32 = b"\x00" * 32
MAX_WATERMARK_ID = 2**64 - 1
FUND_WEI = 10**24
RETRIES = 3
BACKOFF_S = (0.2, 0.5, 1.0)
FEE_TTL_S = 30.0


def to_bytes32(value: bytes | str | None, name: str = "hash") -> bytes:
    """Accept 32 raw bytes or 64 hex digits (with or without 0x); None -> 32 zero bytes."""
    if value is None:
        return ZERO32
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.removeprefix("0x"))
        except ValueError as exc:
            raise BadRequest(f"{name} is not hex: {value!r}", code="bad_hash") from exc
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise BadRequest(f"{name} must be 32 bytes", code="bad_hash")
    return bytes(value)


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


@dataclass(frozen=True)
class LedgerRecord:
    """One registry record. ``status``: "confirmed" (on chain) or "pending" (in the local outbox)."""

    content_hash: str
    manifest_hash: str
    watermark_id: int
    fingerprint: str
    consent_hash: str | None
    uri: str
    registrant: str | None
    timestamp: int | None
    block_number: int | None
    revoked: bool
    chain_id: int
    contract: str
    status: str = "confirmed"
    tx_hash: str | None = None
    consent_revoked: bool | None = None

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def fingerprint_bytes(self) -> bytes:
        return bytes.fromhex(self.fingerprint.removeprefix("0x"))

    @property
    def caip2(self) -> str:
        return f"eip155:{self.chain_id}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["chain"] = self.caip2
        return out


@dataclass(frozen=True)
class Registration(Record):
    """One file's registration as the contract takes it and the outbox journals it (``to_json()`` is the
    journaled JSON): hashes as 0x hex, the zero hash for "no consent"."""
    content_hash: str
    manifest_hash: str
    watermark_id: int
    fingerprint: str
    consent_hash: str
    uri: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Registration:
        return cls(**{f: d[f] for f in cls.__dataclass_fields__})

    @property
    def consent(self) -> str | None:
        return self.consent_hash if int(self.consent_hash, 16) else None

    def record(self, *, chain_id: int, contract: str, registrant: str | None, **chain: Any) -> LedgerRecord:
        """The record the registry holds (or will hold) for it; ``chain``: the block's fields or ``status``."""
        return LedgerRecord(content_hash=self.content_hash, manifest_hash=self.manifest_hash,
                            watermark_id=self.watermark_id, fingerprint=self.fingerprint, consent_hash=self.consent,
                            uri=self.uri, registrant=registrant, revoked=False, chain_id=chain_id, contract=contract,
                            **chain)


def _is_unreachable(exc: BaseException) -> bool:
    import requests

    from web3.exceptions import ProviderConnectionError, TimeExhausted

    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            ProviderConnectionError, TimeExhausted, ConnectionError, TimeoutError))


class RegistryClient:
    """Domain wrapper around the deployed ``ProvenanceRegistry``.

    Build it with :func:`open_registry` (embedded node or settings' RPC) or :meth:`from_url`.
    Raises ``LedgerError`` (node unreachable, contract refused), ``KeyStoreError`` (writes without keys).
    """

    def __init__(self, w3, *, url: str, chain_id: int, address: str, keystore: KeyStore | None,
                 outbox: Outbox, node: NodeHandle | None = None, embedded: bool = False,
                 passphrase: str | None = None, fault_point: str | None = None) -> None:
        self.w3 = w3
        self.url = url
        self.chain_id = chain_id
        self.address = w3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=_abi.ABI)
        self.keystore = keystore
        self.outbox = outbox
        self.node = node
        self.embedded = embedded
        self._passphrase = passphrase
        self.fault_point = fault_point
        self._lock = threading.RLock()
        self._funded = False
        self._nonce: int | None = None
        self._fee_cache: tuple[float, dict] | None = None
        self._errors = {}
        for item in _abi.ABI:
            if item["type"] == "error":
                sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                self._errors["0x" + w3.keccak(text=sig)[:4].hex().removeprefix("0x")] = item["name"]

    # construction -------------------------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, *, chain_id: int, address: str, data_dir: Path, keystore: KeyStore | None = None,
                 passphrase: str | None = None, embedded: bool = False, node: NodeHandle | None = None) -> "RegistryClient":
        return cls(_web3(url), url=url, chain_id=chain_id, address=address, keystore=keystore,
                   outbox=Outbox(ledger_dir(data_dir) / "outbox.sqlite"), node=node, embedded=embedded,
                   passphrase=passphrase)

    @property
    def caip2(self) -> str:
        return f"eip155:{self.chain_id}"

    def close(self) -> None:
        """Stop the embedded node if this client started it (state is saved). Safe to call twice."""
        if self.node is not None:
            self.node.stop()
            self.node = None
            self.retire_saved()

    def retire_saved(self) -> int:
        """Forget journal rows whose block the node's state file now holds (no RPC); returns how many."""
        saved = self.saved_block()
        n = 0
        for h, _payload, state, block in self.outbox.unsettled(self.chain_id, self.address):
            if state == "unsaved" and saved is not None and block is not None and block <= saved:
                self.outbox.done(h, self.chain_id, self.address)
                n += 1
        return n

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # plumbing ------------------------------------------------------------------------------------
    def _retry(self, what: str, fn: Callable[[], Any], retries: int = RETRIES):
        from web3.exceptions import ContractLogicError

        last: BaseException | None = None
        for attempt in range(retries):
            try:
                return fn()
            except ContractLogicError as exc:
                raise self._refusal(exc) from exc
            except Exception as exc:  # noqa: BLE001 - classified below
                if not _is_unreachable(exc):
                    raise LedgerError(f"ledger {what} failed: {exc}", code="ledger_error") from exc
                last = exc
                if attempt + 1 < retries:
                    time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        raise LedgerUnreachable(f"ledger node unreachable at {self.url} ({what} failed after {retries} attempts: "
                                f"{type(last).__name__})", details={"url": self.url, "chain_id": self.chain_id})

    def _refusal(self, exc) -> LedgerError:
        data = getattr(exc, "data", None)
        data = data if isinstance(data, str) else ""
        name = self._errors.get(data[:10], None)
        codes = {"AlreadyRegistered": ("already_registered", 409), "WatermarkTaken": ("watermark_taken", 409),
                 "NotRegistered": ("not_registered", 404), "NotRegistrant": ("not_registrant", 403),
                 "AlreadyRevoked": ("already_revoked", 409), "ConsentTaken": ("consent_taken", 409),
                 "NotConsentOwner": ("not_consent_owner", 403), "EmptyContentHash": ("bad_hash", 400)}
        code, status = codes.get(name, ("contract_refused", 422))
        cls = AlreadyRegistered if name == "AlreadyRegistered" else LedgerError
        return cls(f"the registry refused the call: {name or exc}", code=code, http_status=status,
                           details={"revert": name or str(exc)})

    def account(self):
        if self.keystore is None:
            raise LedgerError("no keystore configured for ledger writes", code="keys_missing")
        return self.keystore.load_account(self._passphrase)

    def _fund(self, addr: str) -> None:
        if self.embedded and not self._funded:
            if self.w3.eth.get_balance(addr) < FUND_WEI // 2:
                self.w3.provider.make_request("anvil_setBalance", [addr, hex(FUND_WEI)])
            self._funded = True

    def _fees(self) -> dict:
        """EIP-1559 fee fields, refreshed every FEE_TTL_S (one block read instead of two calls per tx)."""
        now = time.monotonic()
        if self._fee_cache is None or now - self._fee_cache[0] > FEE_TTL_S:
            base = self.w3.eth.get_block("latest").get("baseFeePerGas") or 0
            try:
                tip = self.w3.eth.max_priority_fee
            except Exception:  # noqa: BLE001 - nodes without eth_maxPriorityFeePerGas
                tip = 10**9
            self._fee_cache = (now, {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip})
        return self._fee_cache[1]

    def _transact(self, fn, after_send: Callable[[], None] | None = None) -> dict:
        """Sign and send one call; returns the receipt. About 4 RPCs: estimate, send, receipt (+ fees/nonce
        now and then). The estimate surfaces contract refusals before anything is sent."""
        acct = self.account()

        def send():
            with self._lock:
                self._fund(acct.address)
                # Re-read the nonce every time: another process (a CLI command beside the daemon) may send
                # from the same account; keep our own count too, for transactions still in flight.
                chain_nonce = self.w3.eth.get_transaction_count(acct.address, "pending")
                self._nonce = max(chain_nonce, self._nonce or 0)
                gas = fn.estimate_gas({"from": acct.address})
                tx = fn.build_transaction({"from": acct.address, "chainId": self.chain_id, "nonce": self._nonce,
                                           "gas": gas + gas // 5 + 10_000, **self._fees()})
                signed = acct.sign_transaction(tx)
                try:
                    h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                except Exception:
                    self._nonce, self._fee_cache = None, None      # re-read both on the next attempt
                    raise
                self._nonce += 1
            if after_send is not None:
                after_send()
            rcpt = self.w3.eth.wait_for_transaction_receipt(h, timeout=120, poll_latency=0.02)
            if rcpt["status"] != 1:
                raise LedgerError(f"transaction {_hex(h)} reverted", code="tx_reverted")
            return rcpt

        return self._retry("transaction", send)

    def _record(self, t, *, tx_hash: str | None = None) -> LedgerRecord | None:
        (content, manifest, wm, fp, consent, uri, registrant, ts, block, revoked) = t
        if int(registrant, 16) == 0:
            return None
        consent = bytes(consent)
        consent_revoked = None
        if consent != ZERO32:
            consent_revoked = self._retry("lookup", lambda: self.contract.functions.isConsentRevoked(consent).call())
        return LedgerRecord(content_hash=_hex(content), manifest_hash=_hex(manifest), watermark_id=int(wm),
                            fingerprint=_hex(fp), consent_hash=_hex(consent) if consent != ZERO32 else None, uri=uri,
                            registrant=registrant, timestamp=int(ts), block_number=int(block), revoked=bool(revoked),
                            chain_id=self.chain_id, contract=self.address, tx_hash=tx_hash,
                            consent_revoked=consent_revoked)

    # reads -----------------------------------------------------------------------------------------
    def ping(self) -> dict:
        def info():
            return {"chain_id": self.w3.eth.chain_id, "block": self.w3.eth.block_number,
                    "records": self.contract.functions.recordCount().call()}
        return self._retry("status", info, retries=1)

    def describe(self) -> dict:
        return json.loads(self._retry("describe", lambda: self.contract.functions.describe().call()))

    def lookup_by_hash(self, content_hash: bytes | str) -> LedgerRecord | None:
        h = to_bytes32(content_hash, "content_hash")
        return self._record(self._retry("lookup", lambda: self.contract.functions.getByContentHash(h).call()))

    def lookup_by_watermark(self, watermark_id: int) -> LedgerRecord | None:
        wm = _check_wm(watermark_id)
        if wm == 0:
            return None
        return self._record(self._retry("lookup", lambda: self.contract.functions.getByWatermark(wm).call()))

    def is_watermark_taken(self, watermark_id: int) -> bool:
        wm = _check_wm(watermark_id)
        return bool(self._retry("lookup", lambda: self.contract.functions.isWatermarkTaken(wm).call()))

    def is_consent_revoked(self, consent_hash: bytes | str) -> bool:
        h = to_bytes32(consent_hash, "consent_hash")
        return bool(self._retry("lookup", lambda: self.contract.functions.isConsentRevoked(h).call()))

    def consent_info(self, consent_hash: bytes | str) -> dict | None:
        h = to_bytes32(consent_hash, "consent_hash")
        owner, commit, revoked, revoked_at = self._retry("lookup", lambda: self.contract.functions.getConsent(h).call())
        if int(owner, 16) == 0:
            return None
        return {"owner": owner, "revocable_by_secret": bytes(commit) != ZERO32, "revoked": bool(revoked),
                "revoked_at": int(revoked_at) or None}

    # writes ----------------------------------------------------------------------------------------
    def register(self, content_hash: bytes | str, manifest_hash: bytes | str | None, watermark_id: int,
                 fingerprint: bytes, consent_hash: bytes | str | None, uri: str = "", *,
                 queue_if_down: bool = True) -> LedgerRecord:
        """Register a file. Node unreachable: queued in the outbox, returns a record with status "pending"
        (or raises ``LedgerError`` when ``queue_if_down=False``). Duplicates raise ``already_registered``."""
        reg = Registration(content_hash=_hex(to_bytes32(content_hash, "content_hash")),
                           manifest_hash=_hex(to_bytes32(manifest_hash, "manifest_hash")),
                           watermark_id=_check_wm(watermark_id), fingerprint=_hex(bytes(fingerprint)),
                           consent_hash=_hex(to_bytes32(consent_hash, "consent_hash")), uri=str(uri))
        if to_bytes32(content_hash) == ZERO32:
            raise BadRequest("content_hash must not be zero", code="bad_hash")
        h = reg.content_hash
        mine = self.outbox.journal(h, self.chain_id, self.address, reg.to_json())     # on disk before it is sent
        self._fault("journaled")
        try:
            rec = self._register_now(reg)
        except BaseException as exc:
            if isinstance(exc, LedgerUnreachable) and queue_if_down:
                self.outbox.put(h, self.chain_id, self.address, reg.to_json(), exc.message)
                return self._pending_record(reg)
            if mine:
                self.outbox.done(h, self.chain_id, self.address)
            raise
        self._settle(h, rec.block_number)
        self._fault("registered")
        return rec

    # durability ------------------------------------------------------------------------------------
    def saved_block(self) -> int | None:
        """The highest block the embedded node's state file on disk holds (None: no file yet). An external
        node's durability is its own business: there every block counts as saved."""
        if not self.embedded:
            return 1 << 62
        from deepsentry.ledger.node import saved_block

        return saved_block(ledger_dir(self.outbox.path.parent.parent) / f"anvil-{self.chain_id}.json")

    def _settle(self, content_hash: str, block: int) -> None:
        """A registration mined in ``block``: forget its journal row if that block is on disk already,
        else keep it as ``unsaved`` until :meth:`flush_outbox` sees the block saved."""
        saved = self.saved_block()
        if saved is not None and saved >= block:
            self.outbox.done(content_hash, self.chain_id, self.address)
        else:
            self.outbox.mined(content_hash, self.chain_id, self.address, block)

    def _replay_unsettled(self) -> int:
        """Journal rows sent or mined but not known to be on disk: retire those the saved chain holds,
        send again those the chain lost (a crash of the node before its state was written)."""
        replayed = 0
        for h, payload, _state, _block in self.outbox.unsettled(self.chain_id, self.address):
            rec = self.lookup_by_hash(h)
            if rec is None:
                rec = self._register_now(Registration.from_json(payload))
                replayed += 1
            self._settle(h, rec.block_number)
        return replayed

    def _fault(self, point: str) -> None:
        """Crash tests only (``settings.fault_point``): at ``point`` of a registration, kill the embedded
        node and this process at once with SIGKILL, as a power cut would."""
        if self.fault_point != point:
            return
        import signal

        from deepsentry.ledger.node import node_pid

        pid = node_pid(ledger_dir(self.outbox.path.parent.parent))
        if pid:
            os.kill(pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    def _pending_record(self, reg: Registration) -> LedgerRecord:
        return reg.record(chain_id=self.chain_id, contract=self.address, status="pending", timestamp=None,
                          block_number=None, registrant=self.keystore.address if self.keystore else None)

    def _register_now(self, reg: Registration) -> LedgerRecord:
        fn = self.contract.functions.register(to_bytes32(reg.content_hash), to_bytes32(reg.manifest_hash),
                                              reg.watermark_id, bytes.fromhex(reg.fingerprint[2:]),
                                              to_bytes32(reg.consent_hash), reg.uri)
        rcpt = self._transact(fn, after_send=lambda: self._fault("sent"))
        # The transaction succeeded, so the stored record is exactly the registration; only the block's
        # timestamp and the consent state are read back.
        block = rcpt["blockNumber"]
        ts = self._retry("lookup", lambda: self.w3.eth.get_block(block)["timestamp"])
        consent_revoked = self.is_consent_revoked(reg.consent) if reg.consent else None
        return reg.record(chain_id=self.chain_id, contract=self.address,
                          registrant=self.w3.to_checksum_address(rcpt["from"]), timestamp=int(ts),
                          block_number=int(block), tx_hash=_hex(rcpt["transactionHash"]),
                          consent_revoked=consent_revoked)

    def pending_registration(self, content_hash: bytes | str) -> LedgerRecord | None:
        row = self.outbox.get(_hex(to_bytes32(content_hash)), self.chain_id, self.address)
        return self._pending_record(Registration.from_json(row["payload"])) if row else None

    def _rebind(self, url: str) -> None:
        self.url = url
        self.w3 = _web3(url)
        self.contract = self.w3.eth.contract(address=self.address, abi=_abi.ABI)
        self._nonce = self._fee_cache = None

    def revive(self) -> bool:
        """Embedded node only: if it stopped answering (crashed, or its owning process died), start it
        again from its state file -- on the same port when possible -- and rebind. True when it answers."""
        from deepsentry.ledger.node import embedded_node, node_alive, start_node

        if node_alive(self.url) == self.chain_id:
            return True
        if not self.embedded:
            return False
        data_dir = self.outbox.path.parent.parent
        try:
            with self._lock:
                if self.node is not None:
                    old = self.node
                    try:
                        new = start_node(data_dir, chain_id=self.chain_id, port=old.port)
                    except LedgerError:
                        new = start_node(data_dir, chain_id=self.chain_id)
                    new._lock, new._info_path, old._lock, old._info_path = old._lock, old._info_path, None, None
                    old.stop()
                    if new._info_path is not None:
                        new._info_path.write_text(json.dumps({"url": new.url, "pid": new.process.pid,
                                                              "chain_id": self.chain_id}))
                    self.node, url = new, new.url
                else:
                    url, self.node = embedded_node(data_dir, self.chain_id)
                if url != self.url:
                    self._rebind(url)
                # a crash right after deployment can lose the contract (state is dumped every few seconds)
                address = ensure_deployed(self.w3, data_dir=data_dir, chain_id=self.chain_id,
                                          key=deployment_key(self.chain_id, None))
                if address != self.address:
                    self.address = self.w3.to_checksum_address(address)
                    self.contract = self.w3.eth.contract(address=self.address, abi=_abi.ABI)
        except LedgerError:
            return False
        return node_alive(self.url) == self.chain_id

    def flush_outbox(self) -> dict[str, int]:
        """Deliver queued registrations (reviving a dead embedded node first). Returns counts: delivered,
        failed (refused by the contract, kept with state "failed" for inspection), pending (still waiting)."""
        delivered = failed = 0
        unsettled = self.outbox.unsettled(self.chain_id, self.address)
        if self.embedded and (unsettled or self.outbox.count(self.chain_id, self.address)["pending"]):
            self.revive()
        try:
            delivered += self._replay_unsettled()
        except LedgerUnreachable:
            return {"delivered": delivered, "failed": failed,
                    "pending": self.outbox.count(self.chain_id, self.address)["pending"]}
        rows = list(self.outbox.pending(self.chain_id, self.address))
        for i, (h, payload) in enumerate(rows):
            reg = Registration.from_json(payload)
            try:
                rec = self._register_now(reg)
            except LedgerUnreachable as exc:
                self.outbox.mark(h, self.chain_id, self.address, state="pending", error=exc.message)
                return {"delivered": delivered, "failed": failed, "pending": len(rows) - i}
            except LedgerError as exc:
                if isinstance(exc, AlreadyRegistered):
                    rec = self.lookup_by_hash(h)
                    mine = rec is not None and self.keystore is not None and rec.registrant == self.keystore.address
                    if mine and rec.watermark_id == reg.watermark_id:
                        self._settle(h, rec.block_number)       # an earlier attempt went through
                        delivered += 1
                        continue
                self.outbox.mark(h, self.chain_id, self.address, state="failed", error=exc.message)
                failed += 1
                continue
            self._settle(h, rec.block_number)
            delivered += 1
        return {"delivered": delivered, "failed": failed, "pending": 0}

    def outbox_counts(self) -> dict[str, int]:
        return self.outbox.count(self.chain_id, self.address)

    def revoke(self, content_hash: bytes | str) -> LedgerRecord:
        """Flag a record revoked (registrant only). Returns the updated record."""
        h = to_bytes32(content_hash, "content_hash")
        self._transact(self.contract.functions.revoke(h))
        return self.lookup_by_hash(h)

    def register_consent(self, consent_hash: bytes | str, revocation_secret: bytes | None = None) -> None:
        """Claim a consent hash for this account. With ``revocation_secret``, whoever holds the secret
        (give it to the subject) can revoke from any account; without, only this account can."""
        h = to_bytes32(consent_hash, "consent_hash")
        commit = self.w3.keccak(revocation_secret) if revocation_secret else ZERO32
        self._transact(self.contract.functions.registerConsent(h, commit))

    def revoke_consent(self, consent_hash: bytes | str, secret: bytes | None = None) -> None:
        """Revoke consent: the owner of the consent hash, anyone with its revocation secret, or anyone at all
        if the hash was never claimed (revoking only withdraws permission). Idempotent."""
        h = to_bytes32(consent_hash, "consent_hash")
        self._transact(self.contract.functions.revokeConsent(h, secret or b""))


def _check_wm(watermark_id: int) -> int:
    try:
        wm = int(watermark_id)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"watermark id must be an integer, got {watermark_id!r}", code="bad_watermark_id") from exc
    if not 0 <= wm <= MAX_WATERMARK_ID:
        raise BadRequest(f"watermark id {wm} outside 0..2**64-1", code="bad_watermark_id")
    return wm


def _web3(url: str):
    from web3 import Web3

    # eth_chainId is asked by web3's validation before every transaction: cache it (the URL fixes the chain).
    provider = Web3.HTTPProvider(url, request_kwargs={"timeout": 10}, exception_retry_configuration=None,
                                 cache_allowed_requests=True, cacheable_requests={"eth_chainId"})
    return Web3(provider)


# deployment ----------------------------------------------------------------------------------------
def _deployments_path(data_dir: Path) -> Path:
    return ledger_dir(data_dir) / "deployments.json"


def deployment_key(chain_id: int, url: str | None) -> str:
    return str(chain_id) if url is None else f"{chain_id}@{url}"


def _bytecode_sha() -> str:
    return hashlib.sha256(_abi.BYTECODE.encode()).hexdigest()


def ensure_deployed(w3, *, data_dir: Path, chain_id: int, key: str, deployer=None) -> str:
    """The registry's address for this chain: the remembered one if its code is there, else deploy anew.

    ``deployer``: a LocalAccount, or None to use the node's first unlocked account (embedded anvil).
    """
    path = _deployments_path(data_dir)
    known = json.loads(path.read_text()) if path.exists() else {}
    entry = known.get(key)
    if entry:
        addr = w3.to_checksum_address(entry["address"])
        if len(w3.eth.get_code(addr)) > 0:
            return addr
    contract = w3.eth.contract(abi=_abi.ABI, bytecode=_abi.BYTECODE)
    if deployer is None:
        sender = w3.eth.accounts[0]
        h = contract.constructor().transact({"from": sender})
    else:
        tx = contract.constructor().build_transaction({"from": deployer.address, "chainId": chain_id,
                                                       "nonce": w3.eth.get_transaction_count(deployer.address, "pending")})
        h = w3.eth.send_raw_transaction(deployer.sign_transaction(tx).raw_transaction)
    rcpt = w3.eth.wait_for_transaction_receipt(h, timeout=120, poll_latency=0.05)
    if rcpt["status"] != 1 or not rcpt["contractAddress"]:
        raise LedgerError("registry deployment failed", code="deploy_failed")
    known[key] = {"address": rcpt["contractAddress"], "chain_id": chain_id, "block": rcpt["blockNumber"],
                  "bytecode_sha256": _bytecode_sha(), "solc": _abi.SOLC_VERSION}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, indent=2))
    tmp.replace(path)
    return rcpt["contractAddress"]


def open_registry(settings, *, passphrase: str | None = None) -> RegistryClient:
    """A client for the registry selected by ``settings``.

    ``settings.ledger_rpc_url`` None: the embedded anvil for ``settings.data_dir`` (started if no other
    deepsentry process runs it; the client then owns it -- call ``close()``), contract deployed once per
    chain id and remembered in ``<data_dir>/ledger/deployments.json``. Otherwise that JSON-RPC endpoint;
    ``settings.ledger_chain_id`` must match it. ``settings.ledger_contract`` pins a contract address.
    """
    from web3.exceptions import ContractLogicError

    if not settings.ledger_enabled:
        raise LedgerError("the ledger is disabled in settings (ledger_enabled = false)", code="ledger_disabled")
    data_dir = Path(settings.data_dir)
    keystore = KeyStore(settings.config_dir)
    node = None
    if settings.ledger_rpc_url is None:
        chain_id = settings.ledger_chain_id or DEFAULT_CHAIN_ID
        url, node = embedded_node(data_dir, chain_id)
        embedded, key = True, deployment_key(chain_id, None)
    else:
        url, embedded = settings.ledger_rpc_url, False
        from deepsentry.ledger.node import node_alive

        actual = node_alive(url, timeout=5)
        if actual is None:
            raise LedgerUnreachable(f"ledger node unreachable at {url}", details={"url": url})
        chain_id = settings.ledger_chain_id or actual
        if actual != chain_id:
            raise LedgerError(f"{url} serves chain {actual}, settings say {chain_id}", code="chain_mismatch")
        key = deployment_key(chain_id, url)
    try:
        w3 = _web3(url)
        address = settings.ledger_contract
        if not address:
            deployer = None if embedded else keystore.load_account(passphrase)
            try:
                address = ensure_deployed(w3, data_dir=data_dir, chain_id=chain_id, key=key, deployer=deployer)
            except ContractLogicError as exc:
                raise LedgerError(f"registry deployment reverted: {exc}", code="deploy_failed") from exc
        return RegistryClient(w3, url=url, chain_id=chain_id, address=address, keystore=keystore,
                              outbox=Outbox(ledger_dir(data_dir) / "outbox.sqlite"), node=node, embedded=embedded,
                              passphrase=passphrase, fault_point=settings.fault_point)
    except BaseException:
        if node is not None:
            node.stop()
        raise

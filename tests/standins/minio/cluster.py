"""N nodes acting as ONE MinIO deployment: quorum, replication, catch-up.

The model, simple on purpose:
  - Every node keeps a FULL replica (storage.Storage) on its own drives; reads and listings are
    answered from it.
  - A write (object PUT/DELETE, a multipart step, a bucket change) becomes versioned records. They
    are sent to every peer believed online (internal HTTP endpoint), then applied locally. The write
    succeeds only if the nodes that acknowledged it hold the write quorum of drives in every erasure
    set, computed like MinIO's defaults (4 nodes x 1 drive: EC:2, write quorum 3, read quorum 2).
    A write is refused before anything is sent when the online nodes cannot make quorum, so a
    refused write leaves nothing behind; one that loses peers midway stays where it was applied
    (like any failed S3 PUT its outcome is undefined) and spreads by catch-up.
  - Catch-up: every POLL_INTERVAL each node asks each peer for the records the peer applied since
    the last ask (storage.changes, numbered per peer process). That answer is also the liveness
    probe. A starting node reads every reachable peer's whole feed BEFORE it starts serving, so a
    node that was down serves what was written meanwhile. Reads (and writes that miss a bucket or
    upload) first pull the online peers' feeds (``refresh``), so every node reads its writes like
    MinIO does, whichever node took the write. Newest version wins everywhere, so duplicate or
    reordered delivery is harmless.
  - Internal requests carry an HMAC (method, target, time, sender, record header) keyed by the root
    credentials; a peer with other credentials counts as offline. A peer that contacts us counts as
    online at once (nodes starting together find each other without waiting a poll).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl, quote

from .endpoints import Topology
from .storage import Storage, has_data, rid_of, ver

log = logging.getLogger("minio_standin.cluster")

INTERNAL_PREFIX = "/minio/standin/v1/"
AUTH_HEADER = "X-Minio-Standin-Auth"
RECORD_HEADER = "X-Minio-Standin-Record"
SENDER_HEADER = "X-Minio-Standin-Node"
POLL_INTERVAL = 0.5       # seconds between catch-up polls (also how fast a stopped peer is noticed)
PROBE_TIMEOUT = 2.0       # connect/read timeout of a poll
TRANSFER_TIMEOUT = 30.0   # socket timeout while a payload moves between nodes
FORWARD_MIN_AGE = 1.0     # polls leave records this young to the writer that is forwarding them
FEED_PAGE = 1000
COPY_CHUNK = 1 << 20


class QuorumError(Exception):
    """Too few nodes online (or acknowledging) for a write or a read."""


class PeerError(Exception):
    pass


def default_parity(drives: int) -> int:
    """MinIO's default parity (EC:N) for an erasure set of DRIVES drives."""
    if drives == 1:
        return 0
    if drives <= 3:
        return 1
    if drives <= 5:
        return 2
    if drives <= 7:
        return 3
    return 4


def set_quorums(drives: int) -> tuple[int, int]:
    """(read quorum, write quorum) in drives, as MinIO computes them for its default storage class."""
    standard = os.environ.get("MINIO_STORAGE_CLASS_STANDARD", "")
    parity = int(standard[3:]) if standard.startswith("EC:") and standard[3:].isdigit() else default_parity(drives)
    parity = min(parity, drives // 2)
    data = drives - parity
    return data, data + (1 if data == parity else 0)


class Peer:
    """Another node: liveness, its change-feed position, a small pool of keep-alive connections."""

    def __init__(self, name: str):
        self.name = name
        host, _, port = name.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.online = False
        self.epoch = ""
        self.since = 0
        self.pull_lock = threading.Lock()  # one pull of this peer's feed at a time
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def take(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                conn = self._idle.pop()
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                return conn, True
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout, blocksize=COPY_CHUNK), False

    def give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < 8:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._idle:
                conn.close()
            self._idle.clear()


class Cluster:
    def __init__(self, topology: Topology, storage: Storage, access_key: str, secret_key: str):
        self.topology = topology
        self.storage = storage
        self.node = topology.this_node
        self.peers = [Peer(name) for name in topology.peers]
        self._quorums = [(s, *set_quorums(len(s))) for s in topology.sets]
        self._key = hashlib.sha256(f"minio-standin-internal\0{access_key}\0{secret_key}".encode()).digest()
        self._pool = ThreadPoolExecutor(max_workers=max(8, 8 * len(self.peers)), thread_name_prefix="peer")
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # ------------------------------------------------------------------ quorum

    def online_nodes(self) -> set[str]:
        return {self.node} | {p.name for p in self.peers if p.online}

    def has_quorum(self, nodes: set[str], write: bool) -> bool:
        return all(sum(e.node in nodes for e in s) >= (wq if write else rq) for s, rq, wq in self._quorums)

    def write_quorum_drives(self) -> int:
        return max(wq for _, _, wq in self._quorums)

    def require_read_quorum(self) -> None:
        if not self.has_quorum(self.online_nodes(), write=False):
            raise QuorumError("read quorum not available")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Catch up with every reachable peer (before serving), then keep polling in the background."""
        self.catch_up(min_age=0.0)
        log.info("online nodes after start-up catch-up: %s", sorted(self.online_nodes()))
        self._poller = threading.Thread(target=self._poll_loop, name="catch-up", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(PROBE_TIMEOUT * 3)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for peer in self.peers:
            peer.close()

    def _poll_loop(self) -> None:
        while not self._stop.wait(POLL_INTERVAL):
            try:
                self.catch_up(min_age=FORWARD_MIN_AGE)
            except Exception:  # never let the poller die: it is also the liveness probe
                log.exception("catch-up round failed")

    def catch_up(self, min_age: float, online_only: bool = False) -> None:
        peers = [p for p in self.peers if p.online or not online_only]
        list(self._pool.map(lambda p: self._pull_locked(p, min_age), peers))

    def refresh(self) -> None:
        """Read-after-write across nodes: take in what the online peers applied, before answering.

        A write reaches at once only the peers its node believed online; the others would learn it
        at their next poll. Pulling the online peers' feeds first (a few small requests) makes a
        read on any node see every write acknowledged before it, as MinIO's quorum reads do.
        Peers known to be down are left to the poller, so they do not delay reads.
        """
        self.catch_up(min_age=0.0, online_only=True)

    def _pull_locked(self, peer: Peer, min_age: float) -> None:
        with peer.pull_lock:
            self._pull(peer, min_age)

    # ------------------------------------------------------------------ writes

    def write(self, records: list[dict], staged: Path | None = None) -> None:
        """Replicate RECORDS (STAGED = payload of the single record that has one); raise QuorumError."""
        if not self.has_quorum(self.online_nodes(), write=True):
            if staged is not None:
                staged.unlink(missing_ok=True)
            raise QuorumError("write quorum not available")
        targets = [p for p in self.peers if p.online]
        results = list(self._pool.map(lambda p: self._send(p, records, staged), targets))
        acks = {self.node} | {p.name for p, ok in zip(targets, results) if ok}
        for rec in records:
            self.storage.apply(rec, staged if has_data(rec) else None)
        if not self.has_quorum(acks, write=True):
            raise QuorumError(f"only {sorted(acks)} acknowledged")

    def _send(self, peer: Peer, records: list[dict], staged: Path | None) -> bool:
        try:
            if staged is not None:
                header = base64.urlsafe_b64encode(json.dumps(records[0]).encode()).decode()
                with open(staged, "rb") as body:
                    status, _ = self._call(peer, "POST", INTERNAL_PREFIX + "apply", body=body,
                                           size=os.fstat(body.fileno()).st_size, record=header)
            else:
                payload = json.dumps(records).encode()
                status, _ = self._call(peer, "POST", INTERNAL_PREFIX + "apply-batch", body=payload, size=len(payload))
        except PeerError as exc:
            log.info("peer %s missed a write: %s", peer.name, exc)
            peer.online = False
            return False
        return status == 200

    # ------------------------------------------------------------------ catch-up

    def _pull(self, peer: Peer, min_age: float) -> None:
        for _ in range(10_000):  # bounded; a page is FEED_PAGE records
            target = (f"{INTERNAL_PREFIX}changes?since={peer.since}&epoch={peer.epoch}"
                      f"&min_age={min_age}&limit={FEED_PAGE}")
            try:
                status, body = self._call(peer, "GET", target, timeout=PROBE_TIMEOUT * 5)
            except PeerError:
                if peer.online:
                    log.info("peer %s is offline", peer.name)
                peer.online = False
                return
            if status != 200:
                peer.online = False  # e.g. different credentials: not part of this deployment
                log.warning("peer %s refused the change feed (HTTP %s)", peer.name, status)
                return
            if not peer.online:
                log.info("peer %s is online", peer.name)
            peer.online = True
            feed = json.loads(body)
            for rec in feed["records"]:
                if not self._take(peer, rec):
                    return  # payload not fetched: ask again from the same position next round
            peer.epoch, peer.since = feed["epoch"], feed["seq"]
            if not feed["more"]:
                return

    def _take(self, peer: Peer, rec: dict) -> bool:
        current = self.storage.get(rid_of(rec))
        if current is not None and ver(current) >= ver(rec):
            return True
        if not has_data(rec):
            self.storage.apply(rec)
            return True
        staged = self.storage.staging_path(rid_of(rec))
        target = (f"{INTERNAL_PREFIX}data?rid={quote(json.dumps(rid_of(rec)))}"
                  f"&ver={quote(json.dumps(rec['ver']))}")
        try:
            status, _ = self._call(peer, "GET", target, stream_to=staged)
        except PeerError as exc:
            staged.unlink(missing_ok=True)
            log.info("could not fetch %s from %s: %s", rid_of(rec), peer.name, exc)
            return False
        if status != 200:  # superseded there meanwhile: the newer record follows in the feed
            staged.unlink(missing_ok=True)
            return True
        if not _payload_matches(staged, rec):
            staged.unlink(missing_ok=True)
            log.warning("payload of %s from %s does not match its record", rid_of(rec), peer.name)
            return False
        self.storage.apply(rec, staged)
        return True

    # ------------------------------------------------------------------ internal HTTP, client side

    def _mac(self, method: str, target: str, ts: str, sender: str, record: str) -> str:
        message = f"{method}\n{target}\n{ts}\n{sender}\n{record}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _call(self, peer: Peer, method: str, target: str, body=None, size: int = 0, record: str = "",
              timeout: float = TRANSFER_TIMEOUT, stream_to: Path | None = None) -> tuple[int, bytes]:
        ts = str(int(time.time()))
        headers = {AUTH_HEADER: f"{ts}:{self._mac(method, target, ts, self.node, record)}",
                   SENDER_HEADER: self.node, "Content-Length": str(size)}
        if record:
            headers[RECORD_HEADER] = record
        for attempt in range(2):  # a pooled keep-alive connection may have been closed by a peer restart
            conn, reused = peer.take(PROBE_TIMEOUT)
            try:
                if conn.sock is None:
                    conn.connect()
                    # Headers and body go out in separate sends: without this, Nagle's algorithm and
                    # delayed ACKs add ~40 ms to every forwarded write.
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.sock.settimeout(timeout)
                if hasattr(body, "seek"):
                    body.seek(0)
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                if stream_to is not None and resp.status == 200:
                    with open(stream_to, "wb") as out:
                        while chunk := resp.read(COPY_CHUNK):
                            out.write(chunk)
                    data = b""
                else:
                    data = resp.read()
                if resp.will_close:
                    conn.close()
                else:
                    peer.give(conn)
                return resp.status, data
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if not reused or attempt:
                    raise PeerError(f"{peer.name}: {exc!r}") from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ internal HTTP, server side

    def authorized(self, method: str, target: str, headers) -> bool:
        """Check a peer's HMAC; a peer that reaches us is online (we need not wait for our next poll)."""
        ts, _, mac = (headers.get(AUTH_HEADER) or "").partition(":")
        if not ts.isdigit() or abs(time.time() - int(ts)) > 15 * 60:
            return False
        sender = headers.get(SENDER_HEADER, "")
        expected = self._mac(method, target, ts, sender, headers.get(RECORD_HEADER, ""))
        if not hmac.compare_digest(mac, expected):
            return False
        for peer in self.peers:
            if peer.name == sender and not peer.online:
                log.info("peer %s is online (it contacted us)", sender)
                peer.online = True
        return True

    def serve_internal(self, method: str, action: str, raw_query: str, headers, body) -> tuple[int, object]:
        """Answer a peer. Returns (status, bytes | open file | dict for JSON)."""
        query = dict(parse_qsl(raw_query))
        if method == "GET" and action == "changes":
            return 200, self.storage.changes(int(query.get("since", 0)), query.get("epoch", ""),
                                             float(query.get("min_age", 0)), int(query.get("limit", FEED_PAGE)))
        if method == "GET" and action == "data":
            rec = self.storage.get(tuple(json.loads(query["rid"])))
            if rec is None or not has_data(rec) or rec["ver"] != json.loads(query["ver"]):
                return 404, {"error": "no such version"}
            try:
                return 200, open(self.storage.data_path(rec), "rb")
            except FileNotFoundError:  # replaced by a newer version in between
                return 404, {"error": "no such version"}
        if method == "POST" and action == "apply":
            rec = json.loads(base64.urlsafe_b64decode(headers[RECORD_HEADER]))
            staged = self.storage.staging_path(rid_of(rec))
            with open(staged, "wb") as out:
                while chunk := body.read(COPY_CHUNK):
                    out.write(chunk)
            if not _payload_matches(staged, rec):
                staged.unlink(missing_ok=True)
                return 400, {"error": "payload does not match the record"}
            return 200, {"applied": self.storage.apply(rec, staged)}
        if method == "POST" and action == "apply-batch":
            records = json.loads(body.read_all(64 * 1024 * 1024))
            return 200, {"applied": [self.storage.apply(rec) for rec in records]}
        return 404, {"error": f"no internal action {method} {action}"}


def _payload_matches(path: Path, rec: dict) -> bool:
    """Size always; MD5 too when the ETag is a plain MD5 (single-part objects and parts)."""
    if path.stat().st_size != rec["size"]:
        return False
    if "-" in rec["etag"]:
        return True
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == rec["etag"]

"""One node's copy of the cluster state: versioned records on the node's drives, indexed in memory.

Everything the cluster stores is a *record* (a JSON dict), identified by its rid:
  ("bucket", name)                       name, created
  ("object", bucket, key)                size, etag, mtime, ctype, meta
  ("upload", upload_id)                  bucket, key, initiated, ctype, meta   (multipart)
  ("part", upload_id, number)            size, etag, mtime, bucket
Every record carries ``ver`` = [time_ns, origin node] and ``deleted`` (a tombstone). Applying a
record keeps whichever version is newer, so replicas converge whatever order records arrive in.
Objects and parts have a payload file. An object is visible while it and its bucket are live.
Bucket records cascade to nothing: DeleteBucket needs an empty bucket, and object tombstones must
survive it, or a node that missed a DELETE could bring the object back when the bucket is made
again. (A PUT racing a DeleteBucket can leave an object that reappears with a re-created bucket.)
One cascade, the same on every node so it needs no tombstones of its own: an upload tombstone
(completed or aborted) drops that upload's parts, and parts arriving for it later are ignored.

Layout on each drive (a record lives on the drive picked by the hash of its rid):
  <drive>/.minio.sys/format.json                 marker written on first start
  <drive>/.minio.sys/tmp/                        incoming bodies, renamed into place when complete
  <drive>/.minio.sys/records/<hh>/<hash>.json    the record
  <drive>/.minio.sys/records/<hh>/<hash>.<ver>.data   its payload
Writes are atomic by rename; there is no fsync (a test double). Tombstones are kept forever.

The index also numbers every applied record (``seq``) so peers can ask for "changes since N".
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger("minio_standin.storage")

SYS_DIR = ".minio.sys"
KINDS_WITH_DATA = ("object", "part")


def rid_of(rec: dict) -> tuple:
    kind = rec["kind"]
    if kind == "bucket":
        return ("bucket", rec["name"])
    if kind == "object":
        return ("object", rec["bucket"], rec["key"])
    if kind == "upload":
        return ("upload", rec["upload_id"])
    if kind == "part":
        return ("part", rec["upload_id"], rec["number"])
    raise ValueError(f"unknown record kind {kind!r}")


def ver(rec: dict) -> tuple:
    return tuple(rec["ver"])


def has_data(rec: dict) -> bool:
    return rec["kind"] in KINDS_WITH_DATA and not rec.get("deleted")


class Storage:
    def __init__(self, drives: list[str], node: str):
        self.drives = [Path(d) for d in drives]
        self.node = node
        self.epoch = uuid.uuid4().hex  # changes with every start: peers then re-read our feed from 0
        self._lock = threading.RLock()
        self._records: dict[tuple, dict] = {}
        self._feed: OrderedDict[tuple, tuple[int, float]] = OrderedDict()  # rid -> (seq, applied_at), in seq order
        self._seq = 0
        self._last_ts = 0
        self._by_bucket: dict[str, set[tuple]] = {}   # bucket -> rids of objects/uploads/parts
        self._parts: dict[str, set[tuple]] = {}       # upload_id -> rids of its parts
        self._keys: dict[str, list[str] | None] = {}  # bucket -> sorted live object keys (None = rebuild)

    # ------------------------------------------------------------------ layout

    def _hash(self, rid: tuple) -> str:
        return hashlib.sha256(json.dumps(rid).encode()).hexdigest()

    def _dir(self, rid: tuple) -> Path:
        h = self._hash(rid)
        drive = self.drives[int(h[:8], 16) % len(self.drives)]
        return drive / SYS_DIR / "records" / h[:2]

    def _meta_path(self, rid: tuple) -> Path:
        return self._dir(rid) / (self._hash(rid) + ".json")

    def data_path(self, rec: dict) -> Path:
        rid = rid_of(rec)
        origin = hashlib.sha1(rec["ver"][1].encode()).hexdigest()[:8]
        return self._dir(rid) / f"{self._hash(rid)}.{rec['ver'][0]}.{origin}.data"

    def staging_path(self, rid: tuple) -> Path:
        """A fresh temp file on the drive that will hold RID, so the final move is a rename."""
        drive = self._dir(rid).parents[2]
        return drive / SYS_DIR / "tmp" / uuid.uuid4().hex

    # ------------------------------------------------------------------ start-up

    def open(self) -> None:
        for drive in self.drives:
            sys_dir = drive / SYS_DIR
            (sys_dir / "tmp").mkdir(parents=True, exist_ok=True)
            (sys_dir / "records").mkdir(exist_ok=True)
            for leftover in (sys_dir / "tmp").iterdir():  # bodies of requests cut off by a stop
                leftover.unlink(missing_ok=True)
            fmt = sys_dir / "format.json"
            if not fmt.exists():
                fmt.write_text(json.dumps({"format": "minio-standin", "version": 1, "node": self.node}) + "\n")
        loaded = []
        for drive in self.drives:
            for meta in (drive / SYS_DIR / "records").glob("*/*.json"):
                try:
                    loaded.append(json.loads(meta.read_text()))
                except (OSError, ValueError) as exc:
                    log.warning("skipping unreadable record %s: %s", meta, exc)
        with self._lock:
            for rec in sorted(loaded, key=ver):
                rid = rid_of(rec)
                current = self._records.get(rid)
                if current is None or ver(rec) > ver(current):
                    self._index(rid, rec)
                self._last_ts = max(self._last_ts, rec["ver"][0])
            referenced = {self.data_path(r).name for r in self._records.values() if has_data(r)}
        for drive in self.drives:  # payloads of superseded versions a stop left behind
            for data in (drive / SYS_DIR / "records").glob("*/*.data"):
                if data.name not in referenced:
                    data.unlink(missing_ok=True)
        log.info("loaded %d records from %d drive(s)", len(self._records), len(self.drives))

    # ------------------------------------------------------------------ writing

    def new_version(self) -> list:
        with self._lock:
            self._last_ts = max(time.time_ns(), self._last_ts + 1)
            return [self._last_ts, self.node]

    def apply(self, rec: dict, staged: Path | None = None) -> bool:
        """Keep REC if it is newer than what we hold (moving STAGED, its payload, into place)."""
        rid = rid_of(rec)
        with self._lock:
            current = self._records.get(rid)
            if (current is not None and ver(current) >= ver(rec)) or self._superseded(rec):
                if staged is not None:
                    staged.unlink(missing_ok=True)
                return False
            meta = self._meta_path(rid)
            meta.parent.mkdir(parents=True, exist_ok=True)
            if staged is not None:
                os.replace(staged, self.data_path(rec))
            tmp = self.staging_path(rid)
            tmp.write_text(json.dumps(rec))
            os.replace(tmp, meta)
            if current is not None and has_data(current):
                self.data_path(current).unlink(missing_ok=True)
            self._index(rid, rec)
            self._cascade(rec)
            return True

    def _superseded(self, rec: dict) -> bool:
        """True for a part of an upload that is already completed or aborted here."""
        if rec["kind"] != "part":
            return False
        upload = self._records.get(("upload", rec["upload_id"]))
        return upload is not None and bool(upload.get("deleted"))

    def _cascade(self, rec: dict) -> None:
        if rec["kind"] == "upload" and rec.get("deleted"):
            for rid in list(self._parts.get(rec["upload_id"], ())):
                self._remove(rid)

    def _remove(self, rid: tuple) -> None:
        rec = self._records.pop(rid)
        self._feed.pop(rid, None)
        self._unindex(rid, rec)
        self._meta_path(rid).unlink(missing_ok=True)
        if has_data(rec):
            self.data_path(rec).unlink(missing_ok=True)

    def _index(self, rid: tuple, rec: dict) -> None:
        old = self._records.get(rid)
        if old is not None:
            self._unindex(rid, old)
        self._records[rid] = rec
        self._seq += 1
        self._feed[rid] = (self._seq, time.time())
        self._feed.move_to_end(rid)
        if rec["kind"] != "bucket":
            self._by_bucket.setdefault(rec["bucket"], set()).add(rid)
        if rec["kind"] == "part":
            self._parts.setdefault(rec["upload_id"], set()).add(rid)
        if rec["kind"] == "object":
            self._keys[rec["bucket"]] = None

    def _unindex(self, rid: tuple, rec: dict) -> None:
        if rec["kind"] != "bucket":
            self._by_bucket.get(rec["bucket"], set()).discard(rid)
        if rec["kind"] == "part":
            self._parts.get(rec["upload_id"], set()).discard(rid)
        if rec["kind"] == "object":
            self._keys[rec["bucket"]] = None

    # ------------------------------------------------------------------ reading

    def get(self, rid: tuple) -> dict | None:
        with self._lock:
            return self._records.get(rid)

    def bucket(self, name: str) -> dict | None:
        rec = self.get(("bucket", name))
        return rec if rec is not None and not rec.get("deleted") else None

    def buckets(self) -> list[dict]:
        with self._lock:
            return sorted((r for r in self._records.values() if r["kind"] == "bucket" and not r.get("deleted")),
                          key=lambda r: r["name"])

    def _visible(self, rec: dict | None, bucket: dict | None) -> bool:
        return rec is not None and bucket is not None and not rec.get("deleted")

    def object(self, bucket: str, key: str) -> dict | None:
        with self._lock:
            rec = self._records.get(("object", bucket, key))
            return rec if self._visible(rec, self.bucket(bucket)) else None

    def upload(self, upload_id: str) -> dict | None:
        with self._lock:
            rec = self._records.get(("upload", upload_id))
            return rec if self._visible(rec, self.bucket(rec["bucket"]) if rec else None) else None

    def uploads(self, bucket: str) -> list[dict]:
        with self._lock:
            b = self.bucket(bucket)
            return [r for rid in self._by_bucket.get(bucket, ()) if rid[0] == "upload"
                    for r in [self._records[rid]] if self._visible(r, b)]

    def parts(self, upload_id: str) -> dict[int, dict]:
        with self._lock:
            return {rid[2]: self._records[rid] for rid in self._parts.get(upload_id, ())}

    def iter_objects(self, bucket: str, prefix: str = "", after: str = ""):
        """Visible objects of BUCKET with keys starting with PREFIX and greater than AFTER, sorted."""
        with self._lock:
            keys = self._keys.get(bucket)
            if keys is None:
                keys = sorted(rid[2] for rid in self._by_bucket.get(bucket, ())
                              if rid[0] == "object" and not self._records[rid].get("deleted"))
                self._keys[bucket] = keys
        start = bisect.bisect_right(keys, after) if after >= prefix else bisect.bisect_left(keys, prefix)
        for key in keys[start:]:  # a snapshot: writers replace the list instead of changing it
            if not key.startswith(prefix):
                break
            rec = self.object(bucket, key)
            if rec is not None:
                yield rec

    def bucket_is_empty(self, bucket: str) -> bool:
        return next(self.iter_objects(bucket), None) is None

    def changes(self, since: int, epoch: str, min_age: float, limit: int) -> dict:
        """Records applied here after SINCE (all of them if EPOCH is not ours), at least MIN_AGE seconds old."""
        with self._lock:
            if epoch != self.epoch:
                since = 0
            newer = []
            for rid in reversed(self._feed):
                seq, _ = self._feed[rid]
                if seq <= since:
                    break
                newer.append(rid)
            records, last, now = [], since, time.time()
            for rid in reversed(newer):
                seq, applied_at = self._feed[rid]
                if now - applied_at < min_age or len(records) >= limit:
                    break  # younger records are still being forwarded by their writer
                records.append(self._records[rid])
                last = seq
            more = len(records) >= limit and len(records) < len(newer)  # a full page: ask again at once
            return {"epoch": self.epoch, "seq": last, "records": records, "more": more}

"""The S3 API over path-style HTTP: routing, operations, XML bodies and S3 errors.

Operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
GetBucketVersioning (always unversioned), ListObjects (v1) and ListObjectsV2, PutObject, GetObject
(single Range, conditional headers, response-* overrides), HeadObject, CopyObject, DeleteObject,
DeleteObjects, CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, ListMultipartUploads. Anything else answers NotImplemented (501).
Every request must be SigV4-signed with the root credentials (sigv4.py). Writes go through
cluster.Cluster.write (quorum); a lost quorum answers MinIO's 503 SlowDownWrite / SlowDownRead.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import mimetypes
import re
import shutil
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import BinaryIO
from urllib.parse import quote, unquote

from . import sigv4
from .cluster import Cluster, QuorumError
from .storage import Storage

log = logging.getLogger("minio_standin.s3")

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_XML_BODY = 4 * 1024 * 1024
COPY_CHUNK = 1 << 20
RESERVED_BUCKETS = {"minio"}
# Request headers kept with an object and sent back on GET/HEAD (besides x-amz-meta-*).
STORED_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")
BUCKET_SUBRESOURCES = {
    "accelerate", "acl", "analytics", "cors", "delete", "encryption", "intelligent-tiering", "inventory",
    "lifecycle", "location", "logging", "metrics", "notification", "object-lock", "ownershipControls",
    "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment", "tagging", "uploads",
    "versioning", "versions", "website",
}
OBJECT_SUBRESOURCES = {"acl", "attributes", "legal-hold", "restore", "retention", "select", "tagging", "torrent"}

ERRORS = {
    "AccessDenied": (403, "Access Denied."),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (400, "Error parsing the X-Amz-Credential parameter."),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket succeeded and you already "
                                     "own it."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "IncompleteBody": (400, "You did not provide the number of bytes specified by the Content-Length HTTP header."),
    "InternalError": (500, "We encountered an internal error, please try again."),
    "InvalidAccessKeyId": (403, "The Access Key Id you provided does not exist in our records."),
    "InvalidArgument": (400, "Invalid argument."),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid."),
    "InvalidPart": (400, "One or more of the specified parts could not be found. The part may not have been "
                         "uploaded, or the specified entity tag may not match the part's entity tag."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order. The parts list must be specified "
                              "in order by part number."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate against our published schema."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (404, "The specified multipart upload does not exist. The upload ID may be invalid, or the "
                          "upload may have been aborted or completed."),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented"),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold"),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the server's time is too large."),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match the signature you "
                                   "provided. Check your key and signing method."),
    "SlowDownRead": (503, "Resource requested is unreadable, please reduce your request rate"),
    "SlowDownWrite": (503, "Resource requested is unwritable, please reduce your request rate"),
    "XAmzContentSHA256Mismatch": (400, "The provided 'x-amz-content-sha256' header does not match what was computed."),
    "XMinioInvalidObjectName": (400, "Object name contains unsupported characters."),
}


class S3Error(Exception):
    def __init__(self, code: str, message: str | None = None, bucket: str = "", key: str = ""):
        status, default = ERRORS.get(code, (400, code))
        super().__init__(f"{code}: {message or default}")
        self.code, self.status, self.message = code, status, message or default
        self.bucket, self.key = bucket, key


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: BinaryIO | None = None   # when set, LENGTH bytes are streamed from its current position
    length: int = 0


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str
    query: dict[str, str]
    headers: object        # http.client.HTTPMessage
    body: object           # httpd.Body
    bucket: str
    key: str


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------

def iso8601(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def xml_response(root: ET.Element, status: int = 200) -> Response:
    root.set("xmlns", NS)
    body = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return Response(status, {"Content-Type": "application/xml"}, body)


def sub(parent: ET.Element, tag: str, text=None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def error_body(err: S3Error, resource: str, request_id: str) -> bytes:
    root = ET.Element("Error")
    sub(root, "Code", err.code)
    sub(root, "Message", err.message)
    if err.key:
        sub(root, "Key", err.key)
    if err.bucket:
        sub(root, "BucketName", err.bucket)
    sub(root, "Resource", resource)
    sub(root, "RequestId", request_id)
    sub(root, "HostId", hashlib.sha256(request_id.encode()).hexdigest())
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def parse_xml(data: bytes) -> ET.Element:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        raise S3Error("MalformedXML") from None
    for el in root.iter():  # forget namespaces: clients send them or not
        el.tag = el.tag.rsplit("}", 1)[-1]
    return root


def check_bucket_name(name: str) -> None:
    valid = (re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name) and ".." not in name
             and ".-" not in name and "-." not in name and name not in RESERVED_BUCKETS)
    try:
        ipaddress.ip_address(name)
        valid = False
    except ValueError:
        pass
    if not valid:
        raise S3Error("InvalidBucketName", bucket=name)


def check_key(key: str) -> None:
    if len(key.encode()) > 1024:
        raise S3Error("KeyTooLongError", key=key)
    if key.startswith("/") or any(part in (".", "..") for part in key.split("/")) or "\x00" in key:
        raise S3Error("XMinioInvalidObjectName", key=key)


def quoted_etag(etag: str) -> str:
    return f'"{etag}"'


def etag_matches(header: str, etag: str) -> bool:
    return any(t.strip() in ("*", etag, quoted_etag(etag)) for t in header.split(","))


def _header_time(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _title(header: str) -> str:
    return "-".join(p.capitalize() for p in header.split("-"))


def _encode(text: str, encode: bool) -> str:
    return quote(text, safe="/") if encode else text


# ----------------------------------------------------------------------------------------------
# the API
# ----------------------------------------------------------------------------------------------

class S3Api:
    def __init__(self, storage: Storage, cluster: Cluster, creds: sigv4.Credentials, region: str = ""):
        self.storage = storage
        self.cluster = cluster
        self.creds = creds
        self.region = region

    # ------------------------------------------------------------------ dispatch

    def handle(self, req: Request) -> Response:
        try:
            payload_hash = sigv4.verify(req.method, req.raw_path, req.raw_query, req.headers, self.creds)
        except sigv4.AuthError as exc:
            raise S3Error(exc.code, exc.message) from None
        req.body.expect_payload_hash(payload_hash)
        try:
            if req.method in ("GET", "HEAD") or not req.key or "x-amz-copy-source" in req.headers:
                self.cluster.refresh()  # reads and bucket-level checks see writes made through any node
            return self._route(req)
        except QuorumError:
            raise S3Error("SlowDownWrite" if req.method in ("PUT", "POST", "DELETE") else "SlowDownRead") from None

    def _route(self, req: Request) -> Response:
        q, m = req.query, req.method
        if not req.bucket:
            if m == "GET":
                return self.list_buckets()
            raise S3Error("MethodNotAllowed")
        if not req.key:
            sub_resources = BUCKET_SUBRESOURCES & q.keys()
            if m == "GET" and "location" in q:
                return self.get_location(req)
            if m == "GET" and sub_resources == {"versioning"}:
                return self.get_versioning(req)
            if m == "GET" and sub_resources == {"uploads"}:
                return self.list_uploads(req)
            if m == "POST" and sub_resources == {"delete"}:
                return self.delete_objects(req)
            if sub_resources:
                raise S3Error("NotImplemented", f"bucket sub-resource {sorted(sub_resources)} is not implemented "
                                                "by the MinIO stand-in")
            if m == "GET":
                return self.list_objects_v2(req) if q.get("list-type") == "2" else self.list_objects_v1(req)
            handlers = {"PUT": self.create_bucket, "HEAD": self.head_bucket, "DELETE": self.delete_bucket}
            if m in handlers:
                return handlers[m](req)
            raise S3Error("MethodNotAllowed")
        check_key(req.key)
        if OBJECT_SUBRESOURCES & q.keys() or "partNumber" in q and m in ("GET", "HEAD"):
            raise S3Error("NotImplemented", "this object sub-resource is not implemented by the MinIO stand-in")
        if m == "PUT" and "uploadId" in q:
            if "x-amz-copy-source" in req.headers:
                raise S3Error("NotImplemented", "UploadPartCopy is not implemented by the MinIO stand-in")
            return self.upload_part(req)
        if m == "PUT":
            return self.copy_object(req) if "x-amz-copy-source" in req.headers else self.put_object(req)
        if m == "GET" and "uploadId" in q:
            return self.list_parts(req)
        if m in ("GET", "HEAD"):
            return self.get_object(req)
        if m == "DELETE":
            return self.abort_upload(req) if "uploadId" in q else self.delete_object(req)
        if m == "POST" and "uploads" in q:
            return self.create_upload(req)
        if m == "POST" and "uploadId" in q:
            return self.complete_upload(req)
        raise S3Error("MethodNotAllowed")

    # ------------------------------------------------------------------ common pieces

    def _bucket(self, name: str) -> dict:
        bucket = self.storage.bucket(name)
        if bucket is None:
            self.cluster.refresh()  # created through another node a moment ago?
            bucket = self.storage.bucket(name)
        if bucket is None:
            raise S3Error("NoSuchBucket", bucket=name)
        return bucket

    def _reading(self) -> None:
        self.cluster.require_read_quorum()

    def _receive(self, req: Request, rid: tuple):
        """Stream the request body into a staging file; return (path, size, md5 hex)."""
        if req.body.declared_length is None and not req.body.chunked:
            raise S3Error("MissingContentLength")
        staged = self.storage.staging_path(rid)
        try:
            with open(staged, "wb") as out:
                while chunk := req.body.read(COPY_CHUNK):
                    out.write(chunk)
            req.body.finish()
            content_md5 = req.headers.get("Content-MD5")
            if content_md5 is not None:
                try:
                    expected = base64.b64decode(content_md5, validate=True)
                except ValueError:
                    raise S3Error("InvalidDigest") from None
                if expected != req.body.md5.digest():
                    raise S3Error("BadDigest")
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return staged, req.body.size, req.body.md5.hexdigest()

    def _metadata(self, req: Request) -> tuple[str, dict[str, str]]:
        meta = {name.lower(): value for name, value in req.headers.items()
                if name.lower().startswith("x-amz-meta-") or name.lower() in STORED_HEADERS}
        ctype = req.headers.get("Content-Type") or mimetypes.guess_type(req.key)[0] or "application/octet-stream"
        return ctype, meta

    def _object_record(self, bucket: dict, key: str, size: int, etag: str, ctype: str, meta: dict) -> dict:
        return {"kind": "object", "bucket": bucket["name"], "key": key, "ver": self.storage.new_version(),
                "deleted": False, "size": size, "etag": etag, "mtime": time.time(), "ctype": ctype,
                "meta": meta}

    def _tombstone(self, rec: dict) -> dict:
        return {**rec, "ver": self.storage.new_version(), "deleted": True}

    # ------------------------------------------------------------------ buckets

    def list_buckets(self) -> Response:
        self._reading()
        root = ET.Element("ListAllMyBucketsResult")
        owner = sub(root, "Owner")
        sub(owner, "ID", hashlib.sha256(self.creds.access_key.encode()).hexdigest())
        sub(owner, "DisplayName", "minio")
        buckets = sub(root, "Buckets")
        for b in self.storage.buckets():
            el = sub(buckets, "Bucket")
            sub(el, "Name", b["name"])
            sub(el, "CreationDate", iso8601(b["created"]))
        return xml_response(root)

    def create_bucket(self, req: Request) -> Response:
        check_bucket_name(req.bucket)
        req.body.read_all(MAX_XML_BODY)  # an optional CreateBucketConfiguration: region is ignored
        req.body.finish()
        if self.storage.bucket(req.bucket) is not None:
            raise S3Error("BucketAlreadyOwnedByYou", bucket=req.bucket)
        rec = {"kind": "bucket", "name": req.bucket, "ver": self.storage.new_version(), "deleted": False,
               "created": time.time()}
        self.cluster.write([rec])
        return Response(200, {"Location": "/" + req.bucket})

    def head_bucket(self, req: Request) -> Response:
        self._reading()
        self._bucket(req.bucket)
        return Response(200, {"x-amz-bucket-region": self.region or "us-east-1"})

    def delete_bucket(self, req: Request) -> Response:
        bucket = self._bucket(req.bucket)
        if not self.storage.bucket_is_empty(req.bucket):
            raise S3Error("BucketNotEmpty", bucket=req.bucket)
        self.cluster.write([self._tombstone(bucket)])
        return Response(204)

    def get_location(self, req: Request) -> Response:
        self._bucket(req.bucket)
        root = ET.Element("LocationConstraint")
        if self.region and self.region != "us-east-1":  # like S3 and MinIO: empty means us-east-1
            root.text = self.region
        return xml_response(root)

    def get_versioning(self, req: Request) -> Response:
        self._bucket(req.bucket)
        return xml_response(ET.Element("VersioningConfiguration"))

    # ------------------------------------------------------------------ listing

    def _list(self, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int):
        contents, prefixes, last, truncated = [], [], "", False
        for rec in self.storage.iter_objects(bucket, prefix, after):
            key, entry = rec["key"], rec
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    entry = key[:cut + len(delimiter)]
                    if entry <= after or (prefixes and prefixes[-1] == entry):
                        continue  # this common prefix was listed already (on an earlier page)
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            if isinstance(entry, str):
                prefixes.append(entry)
                last = entry
            else:
                contents.append(rec)
                last = key
        return contents, prefixes, truncated, last

    def _max_keys(self, req: Request) -> int:
        raw = req.query.get("max-keys", str(MAX_KEYS))
        if not raw.lstrip("-").isdigit() or int(raw) < 0:
            raise S3Error("InvalidArgument", "max-keys must be a non-negative integer")
        return min(int(raw), MAX_KEYS)

    def _list_body(self, root, req, contents, prefixes, encode) -> None:
        for rec in contents:
            el = sub(root, "Contents")
            sub(el, "Key", _encode(rec["key"], encode))
            sub(el, "LastModified", iso8601(rec["mtime"]))
            sub(el, "ETag", quoted_etag(rec["etag"]))
            sub(el, "Size", rec["size"])
            sub(el, "StorageClass", "STANDARD")
            if req.query.get("fetch-owner") == "true" or "list-type" not in req.query:
                owner = sub(el, "Owner")
                sub(owner, "ID", hashlib.sha256(self.creds.access_key.encode()).hexdigest())
                sub(owner, "DisplayName", "minio")
        for p in prefixes:
            sub(sub(root, "CommonPrefixes"), "Prefix", _encode(p, encode))

    def list_objects_v2(self, req: Request) -> Response:
        self._reading()
        self._bucket(req.bucket)
        q = req.query
        prefix, delimiter, max_keys = q.get("prefix", ""), q.get("delimiter", ""), self._max_keys(req)
        encode = q.get("encoding-type") == "url"
        token = q.get("continuation-token")
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise S3Error("InvalidArgument", "The continuation token provided is incorrect") from None
        else:
            after = q.get("start-after", "")
        contents, prefixes, truncated, last = self._list(req.bucket, prefix, delimiter, after, max_keys)
        root = ET.Element("ListBucketResult")
        sub(root, "Name", req.bucket)
        sub(root, "Prefix", _encode(prefix, encode))
        if delimiter:
            sub(root, "Delimiter", _encode(delimiter, encode))
        sub(root, "MaxKeys", max_keys)
        sub(root, "KeyCount", len(contents) + len(prefixes))
        sub(root, "IsTruncated", "true" if truncated else "false")
        if token is not None:
            sub(root, "ContinuationToken", token)
        if truncated:
            sub(root, "NextContinuationToken", base64.urlsafe_b64encode(last.encode()).decode())
        if "start-after" in q:
            sub(root, "StartAfter", _encode(q["start-after"], encode))
        if encode:
            sub(root, "EncodingType", "url")
        self._list_body(root, req, contents, prefixes, encode)
        return xml_response(root)

    def list_objects_v1(self, req: Request) -> Response:
        self._reading()
        self._bucket(req.bucket)
        q = req.query
        prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
        max_keys, encode = self._max_keys(req), q.get("encoding-type") == "url"
        contents, prefixes, truncated, last = self._list(req.bucket, prefix, delimiter, marker, max_keys)
        root = ET.Element("ListBucketResult")
        sub(root, "Name", req.bucket)
        sub(root, "Prefix", _encode(prefix, encode))
        sub(root, "Marker", _encode(marker, encode))
        if delimiter:
            sub(root, "Delimiter", _encode(delimiter, encode))
        sub(root, "MaxKeys", max_keys)
        sub(root, "IsTruncated", "true" if truncated else "false")
        if truncated:
            sub(root, "NextMarker", _encode(last, encode))
        if encode:
            sub(root, "EncodingType", "url")
        self._list_body(root, req, contents, prefixes, encode)
        return xml_response(root)

    # ------------------------------------------------------------------ objects

    def put_object(self, req: Request) -> Response:
        bucket = self._bucket(req.bucket)
        ctype, meta = self._metadata(req)
        staged, size, md5 = self._receive(req, ("object", req.bucket, req.key))
        rec = self._object_record(bucket, req.key, size, md5, ctype, meta)
        self.cluster.write([rec], staged)
        return Response(200, {"ETag": quoted_etag(md5)})

    def _object_headers(self, rec: dict, req: Request) -> dict[str, str]:
        headers = {"Content-Type": rec["ctype"], "ETag": quoted_etag(rec["etag"]),
                   "Last-Modified": http_date(rec["mtime"]), "Accept-Ranges": "bytes"}
        for name, value in rec["meta"].items():
            headers[name if name.startswith("x-amz-") else _title(name)] = value
        for name in ("content-type", "content-language", "expires", "cache-control", "content-disposition",
                     "content-encoding"):
            override = req.query.get("response-" + name)  # presigned downloads may ask for these
            if override is not None:
                headers[_title(name)] = override
        return headers

    def _preconditions(self, req: Request, rec: dict) -> Response | None:
        h, etag, mtime = req.headers, rec["etag"], int(rec["mtime"])
        if h.get("If-Match") is not None and not etag_matches(h["If-Match"], etag):
            raise S3Error("PreconditionFailed", key=req.key)
        since = _header_time(h.get("If-Unmodified-Since", ""))
        if h.get("If-Match") is None and since is not None and mtime > since:
            raise S3Error("PreconditionFailed", key=req.key)
        if h.get("If-None-Match") is not None and etag_matches(h["If-None-Match"], etag):
            return Response(304, {"ETag": quoted_etag(etag), "Last-Modified": http_date(rec["mtime"])})
        since = _header_time(h.get("If-Modified-Since", ""))
        if h.get("If-None-Match") is None and since is not None and mtime <= since:
            return Response(304, {"ETag": quoted_etag(etag), "Last-Modified": http_date(rec["mtime"])})
        return None

    @staticmethod
    def _range(header: str | None, size: int) -> tuple[int, int] | None:
        """(first, last) byte of a single 'bytes=' range; None = whole object; S3Error if unsatisfiable."""
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
        if not m or m.groups() == ("", ""):
            return None  # absent, or not understood (several ranges...): RFC 9110 says serve it whole
        first_text, last_text = m.groups()
        if not first_text:  # suffix range: the last N bytes
            if int(last_text) == 0:
                raise S3Error("InvalidRange")
            first, last = max(0, size - int(last_text)), size - 1
        else:
            first = int(first_text)
            last = int(last_text) if last_text else size - 1
            if last < first:
                return None  # syntactically invalid: ignored, as RFC 9110 says
            last = min(last, size - 1)
        if first >= size:
            raise S3Error("InvalidRange")
        return first, last

    def get_object(self, req: Request) -> Response:
        self._reading()
        self._bucket(req.bucket)
        for _ in range(3):  # a concurrent overwrite can remove the payload between lookup and open
            rec = self.storage.object(req.bucket, req.key)
            if rec is None:
                raise S3Error("NoSuchKey", key=req.key)
            early = self._preconditions(req, rec)
            if early is not None:
                return early
            headers = self._object_headers(rec, req)
            try:
                span = self._range(req.headers.get("Range"), rec["size"])
            except S3Error as err:
                err.key = req.key
                raise err from None
            if req.method == "HEAD":
                return Response(200, headers, length=rec["size"])
            try:
                f = open(self.storage.data_path(rec), "rb")
            except FileNotFoundError:
                continue
            if span is None:
                return Response(200, headers, file=f, length=rec["size"])
            first, last = span
            f.seek(first)
            headers["Content-Range"] = f"bytes {first}-{last}/{rec['size']}"
            return Response(206, headers, file=f, length=last - first + 1)
        raise S3Error("InternalError", "object kept changing while being read")

    def copy_object(self, req: Request) -> Response:
        bucket = self._bucket(req.bucket)
        source = unquote(req.headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/")
        src_bucket, _, src_key = source.partition("/")
        if not src_key:
            raise S3Error("InvalidArgument", "x-amz-copy-source must be bucket/key")
        self._bucket(src_bucket)
        src = self.storage.object(src_bucket, src_key)
        if src is None:
            raise S3Error("NoSuchKey", key=src_key)
        directive = (req.headers.get("x-amz-metadata-directive") or "COPY").upper()
        if directive == "COPY" and (src_bucket, src_key) == (req.bucket, req.key):
            raise S3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an object "
                                            "to itself without changing the object's metadata.")
        ctype, meta = (src["ctype"], src["meta"]) if directive == "COPY" else self._metadata(req)
        staged = self.storage.staging_path(("object", req.bucket, req.key))
        try:
            with open(self.storage.data_path(src), "rb") as fin, open(staged, "wb") as fout:
                shutil.copyfileobj(fin, fout, COPY_CHUNK)
        except FileNotFoundError:
            staged.unlink(missing_ok=True)
            raise S3Error("InternalError", "source object changed during the copy") from None
        rec = self._object_record(bucket, req.key, src["size"], src["etag"], ctype, meta)
        self.cluster.write([rec], staged)
        root = ET.Element("CopyObjectResult")
        sub(root, "LastModified", iso8601(rec["mtime"]))
        sub(root, "ETag", quoted_etag(rec["etag"]))
        return xml_response(root)

    def _delete_record(self, bucket: dict, key: str) -> dict:
        # Written even when we hold no such key: a peer may hold a copy we have not seen yet.
        return {**self._object_record(bucket, key, 0, "", "", {}), "deleted": True}

    def delete_object(self, req: Request) -> Response:
        bucket = self._bucket(req.bucket)
        self.cluster.write([self._delete_record(bucket, req.key)])
        return Response(204)

    def delete_objects(self, req: Request) -> Response:
        bucket = self._bucket(req.bucket)
        data = req.body.read_all(MAX_XML_BODY)
        req.body.finish()
        root = parse_xml(data)
        quiet = (root.findtext("Quiet") or "").strip().lower() == "true"
        keys = [obj.findtext("Key") for obj in root.findall("Object")]
        if not keys or len(keys) > 1000 or any(k is None for k in keys):
            raise S3Error("MalformedXML")
        result = ET.Element("DeleteResult")
        bad = {}
        for key in keys:
            try:
                check_key(key)
            except S3Error as err:
                bad[key] = err
        try:
            self.cluster.write([self._delete_record(bucket, k) for k in dict.fromkeys(keys) if k not in bad])
        except QuorumError:
            bad.update({k: S3Error("SlowDownWrite") for k in keys if k not in bad})
        for key in keys:
            if key in bad:
                el = sub(result, "Error")
                sub(el, "Key", key)
                sub(el, "Code", bad[key].code)
                sub(el, "Message", bad[key].message)
            elif not quiet:
                sub(sub(result, "Deleted"), "Key", key)
        return xml_response(result)

    # ------------------------------------------------------------------ multipart

    def _upload(self, req: Request) -> dict:
        upload = self.storage.upload(req.query["uploadId"])
        if upload is None:
            self.cluster.refresh()  # started through another node a moment ago?
            upload = self.storage.upload(req.query["uploadId"])
        if upload is None or (upload["bucket"], upload["key"]) != (req.bucket, req.key):
            raise S3Error("NoSuchUpload", key=req.key)
        return upload

    def create_upload(self, req: Request) -> Response:
        self._bucket(req.bucket)
        ctype, meta = self._metadata(req)
        upload_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        rec = {"kind": "upload", "upload_id": upload_id, "bucket": req.bucket, "key": req.key,
               "ver": self.storage.new_version(), "deleted": False, "initiated": time.time(),
               "ctype": ctype, "meta": meta}
        self.cluster.write([rec])
        root = ET.Element("InitiateMultipartUploadResult")
        sub(root, "Bucket", req.bucket)
        sub(root, "Key", req.key)
        sub(root, "UploadId", upload_id)
        return xml_response(root)

    def upload_part(self, req: Request) -> Response:
        self._bucket(req.bucket)
        number = req.query.get("partNumber", "")
        if not number.isdigit() or not 1 <= int(number) <= 10000:
            raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
        upload = self._upload(req)
        staged, size, md5 = self._receive(req, ("part", upload["upload_id"], int(number)))
        rec = {"kind": "part", "upload_id": upload["upload_id"], "number": int(number),
               "ver": self.storage.new_version(), "deleted": False, "size": size, "etag": md5,
               "mtime": time.time(), "bucket": upload["bucket"]}
        self.cluster.write([rec], staged)
        return Response(200, {"ETag": quoted_etag(md5)})

    def _requested_parts(self, req: Request) -> list[tuple[int, str]]:
        data = req.body.read_all(MAX_XML_BODY)
        req.body.finish()
        wanted = []
        for part in parse_xml(data).findall("Part"):
            number, etag = part.findtext("PartNumber"), part.findtext("ETag")
            if number is None or not number.strip().isdigit() or etag is None:
                raise S3Error("MalformedXML")
            wanted.append((int(number), etag.strip().strip('"')))
        if not wanted:
            raise S3Error("MalformedXML", "You must specify at least one part")
        if any(a[0] >= b[0] for a, b in zip(wanted, wanted[1:])):
            raise S3Error("InvalidPartOrder", key=req.key)
        return wanted

    def complete_upload(self, req: Request) -> Response:
        bucket = self._bucket(req.bucket)
        upload = self._upload(req)
        wanted = self._requested_parts(req)

        def missing(parts):
            return [n for n, etag in wanted if n not in parts or parts[n]["etag"] != etag]

        parts = self.storage.parts(upload["upload_id"])
        if missing(parts):
            # Parts went to other nodes (a load balancer spreads them); pull now instead of waiting a poll.
            self.cluster.refresh()
            parts = self.storage.parts(upload["upload_id"])
        if missing(parts):
            raise S3Error("InvalidPart", key=req.key)
        chosen = [parts[n] for n, _ in wanted]
        if any(p["size"] < MIN_PART_SIZE for p in chosen[:-1]):
            raise S3Error("EntityTooSmall", key=req.key)
        staged = self.storage.staging_path(("object", req.bucket, req.key))
        try:
            with open(staged, "wb") as out:
                for part in chosen:
                    with open(self.storage.data_path(part), "rb") as f:
                        shutil.copyfileobj(f, out, COPY_CHUNK)
        except FileNotFoundError:
            staged.unlink(missing_ok=True)
            raise S3Error("InvalidPart", "a part was replaced during completion", key=req.key) from None
        combined = hashlib.md5(b"".join(bytes.fromhex(p["etag"]) for p in chosen)).hexdigest()
        etag = f"{combined}-{len(chosen)}"
        size = sum(p["size"] for p in chosen)
        rec = self._object_record(bucket, req.key, size, etag, upload["ctype"], upload["meta"])
        self.cluster.write([rec], staged)
        try:
            self.cluster.write([self._tombstone(upload)])
        except QuorumError:  # the object is stored; leftover parts only cost space
            log.warning("upload %s completed but its parts could not be released everywhere", upload["upload_id"])
        root = ET.Element("CompleteMultipartUploadResult")
        sub(root, "Location", f"/{req.bucket}/{quote(req.key)}")
        sub(root, "Bucket", req.bucket)
        sub(root, "Key", req.key)
        sub(root, "ETag", quoted_etag(etag))
        return xml_response(root)

    def abort_upload(self, req: Request) -> Response:
        upload = self._upload(req)
        self.cluster.write([self._tombstone(upload)])
        return Response(204)

    def list_parts(self, req: Request) -> Response:
        self._reading()
        upload = self._upload(req)
        marker = int(req.query.get("part-number-marker", "0") or 0)
        max_parts = min(int(req.query.get("max-parts", "1000") or 1000), 1000)
        numbers = sorted(n for n in self.storage.parts(upload["upload_id"]) if n > marker)
        shown = numbers[:max_parts]
        parts = self.storage.parts(upload["upload_id"])
        root = ET.Element("ListPartsResult")
        sub(root, "Bucket", req.bucket)
        sub(root, "Key", req.key)
        sub(root, "UploadId", upload["upload_id"])
        sub(root, "PartNumberMarker", marker)
        if shown:
            sub(root, "NextPartNumberMarker", shown[-1])
        sub(root, "MaxParts", max_parts)
        sub(root, "IsTruncated", "true" if len(numbers) > max_parts else "false")
        for n in shown:
            if n in parts:
                el = sub(root, "Part")
                sub(el, "PartNumber", n)
                sub(el, "LastModified", iso8601(parts[n]["mtime"]))
                sub(el, "ETag", quoted_etag(parts[n]["etag"]))
                sub(el, "Size", parts[n]["size"])
        return xml_response(root)

    def list_uploads(self, req: Request) -> Response:
        self._reading()
        self._bucket(req.bucket)
        prefix = req.query.get("prefix", "")
        root = ET.Element("ListMultipartUploadsResult")
        sub(root, "Bucket", req.bucket)
        sub(root, "KeyMarker", "")
        sub(root, "UploadIdMarker", "")
        sub(root, "Prefix", prefix)
        sub(root, "MaxUploads", 1000)
        sub(root, "IsTruncated", "false")
        uploads = sorted((u for u in self.storage.uploads(req.bucket) if u["key"].startswith(prefix)),
                         key=lambda u: (u["key"], u["initiated"]))
        for u in uploads[:1000]:
            el = sub(root, "Upload")
            sub(el, "Key", u["key"])
            sub(el, "UploadId", u["upload_id"])
            sub(el, "Initiated", iso8601(u["initiated"]))
            sub(el, "StorageClass", "STANDARD")
        return xml_response(root)

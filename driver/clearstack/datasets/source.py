"""Parsing `s3://host:port/bucket/prefix/` sources, strictly: the ClearML SDK reads a URL without a
port as an AWS bucket, and reports a wrong prefix only in its log."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ClearstackError

_S3_URL = re.compile(r"^s3://(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})/(?P<bucket>[^/]+)(?:/(?P<prefix>.*))?$")
# S3 bucket naming rules (lower case, digits, dots, hyphens; 3 to 63 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class SourceError(ClearstackError, ValueError):
    """A source URL that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class S3Source:
    host: str
    port: int
    bucket: str
    prefix: str  # "" or ends with "/"

    @property
    def endpoint(self) -> str:
        """host:port as clearml.conf's sdk.aws.s3.credentials[].host wants it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"s3://{self.endpoint}/{self.bucket}/{self.prefix}"

    def object_url(self, key: str) -> str:
        return f"s3://{self.endpoint}/{self.bucket}/{key}"


def parse_s3_url(url: str) -> S3Source:
    match = _S3_URL.match(url.strip())
    if not match:
        authority = url.removeprefix("s3://").split("/", 1)[0]
        if url.startswith("s3://") and not re.search(r":\d+$", authority):
            raise SourceError(f"{url!r} has no port: write s3://HOST:PORT/BUCKET/PREFIX/ (MinIO listens on :9000); "
                              "without a port the ClearML SDK treats the host as an AWS bucket")
        raise SourceError(f"{url!r} is not an s3 URL: write s3://HOST:PORT/BUCKET/PREFIX/")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise SourceError(f"{url!r}: port {port} is out of range")
    bucket = match["bucket"]
    if not _BUCKET.match(bucket):
        raise SourceError(f"{url!r}: {bucket!r} is not a valid bucket name (3-63 lower-case letters, digits, dots, hyphens)")
    prefix = (match["prefix"] or "").lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Source(host=match["host"], port=port, bucket=bucket, prefix=prefix)


def sdk_output_uri(uri: str | None) -> str | None:
    """An output URI (where ClearML keeps a dataset's state) as the SDK must get it: without trailing
    slashes. The SDK appends "/<name>" itself (its write check uploads and deletes
    "<uri>/.clearml.<uuid>.test"), so "s3://HOST:9000/bucket/out/" would make keys with an empty segment
    ("out//..."), which MinIO refuses (XMinioInvalidObjectName: "Object name contains unsupported
    characters") and the SDK then reports as "Insufficient permissions (delete failed)"."""
    if not uri:
        return uri
    trimmed = uri.strip().rstrip("/")
    return trimmed or uri

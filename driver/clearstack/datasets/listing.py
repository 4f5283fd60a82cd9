"""Listing a MinIO source with boto3, before any dataset is touched, so that a missing bucket, wrong
credentials or an unreachable endpoint is a clear error and not an empty dataset (the SDK only logs
"could not list")."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from ..errors import ClearstackError
from .selection import SourceObjects, choose_objects
from .settings import S3Credentials
from .source import S3Source

# Bounded: a dead endpoint fails in seconds, not after the SDK's minutes of retries.
_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"},
                        s3={"addressing_style": "path"}, signature_version="s3v4")


class ListingError(ClearstackError, RuntimeError):
    """The source cannot be listed; the message names the endpoint, the bucket and the fix."""


def s3_client(creds: S3Credentials):
    scheme = "https" if creds.secure else "http"
    return boto3.client("s3", endpoint_url=f"{scheme}://{creds.endpoint}", aws_access_key_id=creds.key,
                        aws_secret_access_key=creds.secret, region_name="us-east-1", config=_CLIENT_CONFIG)


def list_objects(source: S3Source, creds: S3Credentials, wildcards: list[str] | None, recursive: bool = True,
                 output_prefix: str | None = None, progress=None) -> SourceObjects:
    """The objects under the source prefix an ingest registers, and how many matching ones were left
    out and why (selection.choose_objects: the wildcards, ClearML's own outputs)."""
    client = s3_client(creds)
    chosen = SourceObjects({}, {})
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=source.bucket, Prefix=source.prefix)
    try:
        for page in pages:
            found = choose_objects(((o["Key"], o["Size"]) for o in page.get("Contents", [])), source.prefix,
                                   wildcards, recursive, output_prefix)
            chosen.kept.update(found.kept)
            for reason, count in found.left_out.items():
                chosen.left_out[reason] = chosen.left_out.get(reason, 0) + count
            if progress:
                progress(len(chosen.kept))
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            raise ListingError(f"bucket {source.bucket!r} does not exist on {source.endpoint}; "
                               f"create it (the minio role's buckets) or fix the URL {source.url}") from err
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            raise ListingError(f"{source.endpoint} refused the S3 credentials ({code}); fix the key/secret for "
                               f"{source.endpoint} in clearml.conf (sdk.aws.s3.credentials)") from err
        raise ListingError(f"listing {source.url} failed: {code or err}") from err
    except (EndpointConnectionError, BotoCoreError) as err:
        raise ListingError(f"cannot reach S3 at {source.endpoint}: {err}. Is MinIO (or its load balancer) up? "
                           "`clearstack verify` checks it") from err
    return chosen

"""Listing a MinIO source with boto3, before any dataset is touched, so that a missing bucket, wrong
credentials or an unreachable endpoint is a clear error and not an empty dataset (the SDK only logs
"could not list")."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from clearml.utilities.matching import matches_any_wildcard

from .settings import S3Credentials
from .source import S3Source

# Bounded: a dead endpoint fails in seconds, not after the SDK's minutes of retries.
_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"},
                        s3={"addressing_style": "path"}, signature_version="s3v4")


class ListingError(RuntimeError):
    """The source cannot be listed; the message names the endpoint, the bucket and the fix."""


def s3_client(creds: S3Credentials):
    scheme = "https" if creds.secure else "http"
    return boto3.client("s3", endpoint_url=f"{scheme}://{creds.endpoint}", aws_access_key_id=creds.key,
                        aws_secret_access_key=creds.secret, region_name="us-east-1", config=_CLIENT_CONFIG)


def list_objects(source: S3Source, creds: S3Credentials, wildcards: list[str] | None, recursive: bool = True,
                 exclude_prefixes: tuple[str, ...] = (), progress=None) -> dict[str, int]:
    """Object key -> size for every object under the source prefix that matches a wildcard.

    Wildcards match the path relative to the prefix exactly as the ClearML SDK's add_external_files does.
    """
    client = s3_client(creds)
    found: dict[str, int] = {}
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=source.bucket, Prefix=source.prefix)
    try:
        for page in pages:
            for obj in page.get("Contents", []):
                key = obj["Key"]
                relative = key[len(source.prefix):]
                if key.endswith("/") or any(key.startswith(p) for p in exclude_prefixes):
                    continue
                if not recursive and "/" in relative:
                    continue
                if matches_any_wildcard(relative, wildcards or None, recursive=recursive):
                    found[key] = int(obj["Size"])
            if progress:
                progress(len(found))
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
    return found

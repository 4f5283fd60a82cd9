"""`clearstack demo-data`: small, valid PNG files in a bucket, so a first run has something to ingest."""

from __future__ import annotations

import struct
import zlib

from botocore.exceptions import ClientError

from .listing import s3_client
from .settings import s3_credentials
from .source import parse_s3_url


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour RGB PNG, built by hand so the driver needs no imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width  # filter byte 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b"")


def put_demo_images(target_url: str, count: int = 10, size: int = 64) -> list[str]:
    """Put `count` PNGs under the URL's prefix (the bucket is created if missing); returns the keys.
    Re-running rewrites identical bytes, so it changes nothing a later ingest would notice."""
    target = parse_s3_url(target_url)
    client = s3_client(s3_credentials(target.endpoint))
    try:
        client.head_bucket(Bucket=target.bucket)
    except ClientError:
        client.create_bucket(Bucket=target.bucket)
    keys = []
    for i in range(count):
        key = f"{target.prefix}demo_{i:03d}.png"
        colour = ((i * 67) % 256, (i * 131) % 256, (i * 29) % 256)
        client.put_object(Bucket=target.bucket, Key=key, Body=png(size, size, colour), ContentType="image/png")
        keys.append(key)
    return keys

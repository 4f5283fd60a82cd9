"""AWS Signature Version 4 verification for S3 requests (header and presigned-query forms).

Checked: access key, signature over the canonical request (method, URI, query, signed headers,
payload hash), credential date vs. request date, clock skew (15 min, as MinIO), presigned expiry.
The payload hash itself is checked by the caller once the body has been read (see httpd.Body):
a hex hash must match the body; UNSIGNED-PAYLOAD and the STREAMING-* (aws-chunked) forms are
accepted without checking the per-chunk signatures.
Not supported: Signature Version 2 (answered with an explicit error), STS session tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from calendar import timegm
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
MAX_SKEW = 15 * 60
MAX_PRESIGN_EXPIRY = 7 * 24 * 3600


class AuthError(Exception):
    def __init__(self, code: str, message: str | None = None):
        super().__init__(message or code)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


def _uri_encode(text: str, keep_slash: bool) -> str:
    return quote(text, safe="-_.~" + ("/" if keep_slash else ""))


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def canonical_query(raw_query: str, skip: str | None = None) -> str:
    pairs = [(_uri_encode(k, False), _uri_encode(v, False)) for k, v in _query_pairs(raw_query) if k != skip]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_uris(raw_path: str) -> list[str]:
    # S3 signs the path URI-encoded once (MinIO re-encodes the decoded path); clients that encode a
    # little differently (e.g. leave '+' or '=' raw) signed what they sent, so accept that form too.
    encoded = _uri_encode(unquote(raw_path), True)
    return [encoded] if encoded == raw_path else [encoded, raw_path]


def _header_value(headers, name: str) -> str:
    values = headers.get_all(name) or []
    return ",".join(re.sub(r"\s+", " ", v.strip()) for v in values)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _signature(secret, amz_date, scope, canonical_request) -> str:
    date, region, service, _ = scope.split("/")
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    return hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()


def _parse_amz_date(text: str) -> float:
    try:
        return timegm(time.strptime(text, "%Y%m%dT%H%M%SZ"))
    except (ValueError, TypeError):
        raise AuthError("AccessDenied", "X-Amz-Date is missing or malformed") from None


def _check_credential(credential: str, creds: Credentials, amz_date: str) -> str:
    """Return the scope (date/region/service/aws4_request) of a Credential=AK/scope value."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthError("AuthorizationHeaderMalformed", f"malformed credential {credential!r}")
    if not hmac.compare_digest(parts[0].encode(), creds.access_key.encode()):
        raise AuthError("InvalidAccessKeyId")
    if parts[1] != amz_date[:8]:
        raise AuthError("AuthorizationHeaderMalformed", "credential date does not match X-Amz-Date")
    if parts[3] not in ("s3", "sts"):
        raise AuthError("AuthorizationHeaderMalformed", f"unexpected service {parts[3]!r}")
    return "/".join(parts[1:])


def _canonical_request(method, raw_path, canonical_q, headers, signed, payload_hash) -> list[str]:
    header_block = "".join(f"{name}:{_header_value(headers, name)}\n" for name in signed.split(";"))
    return ["\n".join([method, uri, canonical_q, header_block, signed, payload_hash])
            for uri in canonical_uris(raw_path)]


def _matches(provided: str, secret, amz_date, scope, candidates) -> bool:
    return any(hmac.compare_digest(provided, _signature(secret, amz_date, scope, c)) for c in candidates)


def verify(method: str, raw_path: str, raw_query: str, headers, creds: Credentials, now: float | None = None) -> str:
    """Check the request's signature; return the payload hash the client declared. Raises AuthError."""
    now = time.time() if now is None else now
    query = dict(_query_pairs(raw_query))
    auth = headers.get("Authorization")
    if "X-Amz-Algorithm" in query:
        return _verify_presigned(method, raw_path, raw_query, query, headers, creds, now)
    if not auth and "AWSAccessKeyId" not in query:
        raise AuthError("AccessDenied")
    if not auth or auth.startswith("AWS "):
        raise AuthError("NotImplemented", "Signature Version 2 is not supported by the MinIO stand-in; use s3v4")
    if not auth.startswith(ALGORITHM + " "):
        raise AuthError("AuthorizationHeaderMalformed", "unsupported authorization algorithm")
    fields = {}
    for item in auth[len(ALGORITHM):].split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        raise AuthError("AuthorizationHeaderMalformed")
    amz_date = headers.get("X-Amz-Date")
    if amz_date:
        request_time = _parse_amz_date(amz_date)
    else:  # the Date header may stand in for X-Amz-Date
        try:
            request_time = parsedate_to_datetime(headers.get("Date", "")).timestamp()
        except (TypeError, ValueError):
            raise AuthError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header") from None
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(request_time))
    scope = _check_credential(fields["Credential"], creds, amz_date)
    if abs(now - request_time) > MAX_SKEW:
        raise AuthError("RequestTimeTooSkewed")
    signed = fields["SignedHeaders"]
    if "host" not in signed.split(";"):
        raise AuthError("AuthorizationHeaderMalformed", "the host header must be signed")
    payload_hash = headers.get("X-Amz-Content-Sha256") or EMPTY_SHA256  # MinIO's default when absent
    candidates = _canonical_request(method, raw_path, canonical_query(raw_query), headers, signed, payload_hash)
    if not _matches(fields["Signature"], creds.secret_key, amz_date, scope, candidates):
        raise AuthError("SignatureDoesNotMatch")
    return payload_hash


def _verify_presigned(method, raw_path, raw_query, query, headers, creds, now) -> str:
    required = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature")
    if query.get("X-Amz-Algorithm") != ALGORITHM or not all(k in query for k in required):
        raise AuthError("AuthorizationQueryParametersError", "missing or wrong presigned query parameters")
    amz_date = query["X-Amz-Date"]
    request_time = _parse_amz_date(amz_date)
    scope = _check_credential(query["X-Amz-Credential"], creds, amz_date)
    expires = query["X-Amz-Expires"]
    if not expires.isdigit() or not 0 < int(expires) <= MAX_PRESIGN_EXPIRY:
        raise AuthError("AuthorizationQueryParametersError", "X-Amz-Expires must be 1..604800 seconds")
    if request_time - now > MAX_SKEW:
        raise AuthError("RequestTimeTooSkewed")
    if now > request_time + int(expires):
        raise AuthError("AccessDenied", "Request has expired")
    payload_hash = query.get("X-Amz-Content-Sha256", UNSIGNED)
    candidates = _canonical_request(method, raw_path, canonical_query(raw_query, skip="X-Amz-Signature"),
                                    headers, query["X-Amz-SignedHeaders"], payload_hash)
    if not _matches(query["X-Amz-Signature"], creds.secret_key, amz_date, scope, candidates):
        raise AuthError("SignatureDoesNotMatch")
    return payload_hash

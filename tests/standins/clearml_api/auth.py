"""Credentials and tokens, the way the real apiserver handles them (stdlib only).

Credentials and web logins come from the same settings the real apiserver reads at start-up,
``secure.credentials.<name>.{user_key,user_secret,role,display_name}`` and
``apiserver.auth.fixed_users``, in config files or ``CLEARML__...`` environment variables (config.py).
Nothing is built in: the stock server's public default keys are accepted only if someone configures them.

Tokens are HS256 JWTs. The SDK decodes them WITHOUT checking the signature and reads
``api_version``, ``server_version`` and ``exp``; we sign and check them so a forged or stale token
gets a 401 (the SDK then logs in again once with its key/secret, as against the real server).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Mapping

from .config import section

FIXED_USERS = "apiserver.auth.fixed_users"
COMPANY_ID = "d1bd92a3b039400cbafc60a7a5b1e52b"  # the real server's default company id
COMPANY_NAME = "clearml"
DEFAULT_TOKEN_TTL_SEC = 30 * 24 * 3600


class AuthError(Exception):
    """An authentication failure; ``subcode`` follows the real server's 401 sub-codes."""

    def __init__(self, subcode: int, msg: str):
        super().__init__(msg)
        self.subcode = subcode
        self.msg = msg


@dataclass(frozen=True)
class User:
    id: str
    name: str
    role: str
    key: str
    secret: str


def _unquote(value: str) -> str:
    # Values are HOCON: operators quote them ("...") so that special characters survive.
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def credentials_from_config(config: Mapping) -> dict[str, User]:
    """{access_key: User} for every complete entry of ``secure.credentials`` (config.py assembles it from the
    config files and the environment, as the real server does)."""
    entries = section(config, "secure", "credentials")
    return users_from_entries({name: {field: _unquote(str(value)) for field, value in fields.items()}
                               for name, fields in entries.items() if isinstance(fields, Mapping)})


def users_from_entries(entries: Mapping[str, Mapping[str, str]]) -> dict[str, User]:
    """{name: {user_key, user_secret, role?, display_name?}} -> {access_key: User}; incomplete entries are skipped."""
    users: dict[str, User] = {}
    for name, fields in entries.items():
        key, secret = fields.get("user_key"), fields.get("user_secret")
        if not key or not secret:
            continue  # like the SDK with S3 credentials: an entry without both is useless
        users[key] = User(id=name, name=fields.get("display_name") or name, role=fields.get("role") or "user",
                          key=key, secret=secret)
    return users


def _flag(value: object) -> bool:
    return value is True or _unquote(str(value)).lower() in ("true", "yes", "on", "1")


def fixed_users_from_config(config: Mapping) -> dict[str, User]:
    """{username: User} for the web login users of ``apiserver.auth.fixed_users``.

    ``enabled`` must be true and ``users`` a list (a JSON string from the environment) of
    {"username", "password", "name"?}; with fixed users off the list is ignored, as by the real server.
    """
    fixed = section(config, "apiserver", "auth", "fixed_users")
    if not _flag(fixed.get("enabled", "")):
        return {}
    if _flag(fixed.get("pass_hashed", "")):
        # bcrypt hashes cannot be checked with the standard library: refuse rather than compare wrongly.
        raise ValueError(f"{FIXED_USERS}.pass_hashed=true is not supported by the stand-in")
    entries = fixed.get("users", [])
    if isinstance(entries, str):
        try:
            entries = json.loads(entries) if entries.strip() else []
        except ValueError as ex:
            raise ValueError(f"{FIXED_USERS}.users is not a JSON list: {ex}") from None
    if not isinstance(entries, list):
        raise ValueError(f"{FIXED_USERS}.users must be a list of {{username, password, name}}")
    users: dict[str, User] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("username") or not entry.get("password"):
            raise ValueError(f"{FIXED_USERS}.users: every entry needs a username and a password")
        username = str(entry["username"])
        # The real server derives a fixed user's id from the name; no clash with credential names.
        user_id = "fixed-" + hashlib.md5(username.encode("utf-8")).hexdigest()
        users[username] = User(id=user_id, name=str(entry.get("name") or username), role="user",
                               key=username, secret=str(entry["password"]))
    return users


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self, secret: bytes, api_version: str, server_version: str):
        self.secret = secret
        self.api_version = api_version
        self.server_version = server_version

    def issue(self, user: User, ttl_sec: int | None = None) -> str:
        now = int(time.time())
        claims = {
            "identity": {"user": user.id, "user_name": user.name, "role": user.role,
                         "company": COMPANY_ID, "company_name": COMPANY_NAME},
            "api_version": self.api_version,
            "server_version": self.server_version,
            "server_build": "standin",
            "feature_set": "basic",
            "env": "standin",
            "iat": now,
            "exp": now + int(ttl_sec or DEFAULT_TOKEN_TTL_SEC),
        }
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = _b64(hmac.new(self.secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}"

    def verify(self, token: str) -> dict:
        try:
            head, body, sig = token.split(".")
            expected = _b64(hmac.new(self.secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(sig, expected):
                raise AuthError(21, "Invalid token (signature mismatch)")
            claims = json.loads(_unb64(body))
        except AuthError:
            raise
        except Exception:
            raise AuthError(21, "Invalid token")
        if claims.get("exp", 0) < time.time():
            raise AuthError(22, "Token expired")
        return claims


class Authenticator:
    """Maps an Authorization header to an identity (raises AuthError)."""

    def __init__(self, users: Mapping[str, User], issuer: TokenIssuer, fixed_users: Mapping[str, User] | None = None):
        self.users = dict(users)
        self.fixed_users = dict(fixed_users or {})  # web logins (username: password)
        self.issuer = issuer
        self._by_id = {u.id: u for u in [*self.users.values(), *self.fixed_users.values()]}

    def user_from_basic(self, value: str) -> User:
        try:
            key, _, secret = base64.b64decode(value).decode("utf-8").partition(":")
        except Exception:
            raise AuthError(20, "Unauthorized (malformed basic authorization)")
        # Like the real server: a fixed user's name is looked up first, then the API credentials.
        user = self.fixed_users.get(key) or self.users.get(key)
        # Same answer for an unknown key and a wrong secret: do not tell which one is wrong.
        if user is None or not hmac.compare_digest(user.secret.encode(), secret.encode()):
            raise AuthError(20, "Unauthorized (invalid credentials) (failed to locate provided credentials)")
        return user

    def user_from_bearer(self, token: str) -> User:
        claims = self.issuer.verify(token)
        user = self._by_id.get(claims.get("identity", {}).get("user"))
        if user is None:  # credentials were removed since the token was issued
            raise AuthError(21, "Invalid token (unknown user)")
        return user

    def authenticate(self, header: str | None) -> User:
        if not header:
            raise AuthError(10, "Unauthorized (missing credentials)")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "basic":
            return self.user_from_basic(value.strip())
        if scheme.lower() == "bearer":
            return self.user_from_bearer(value.strip())
        raise AuthError(10, "Unauthorized (unsupported authorization scheme)")

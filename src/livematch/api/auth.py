"""Optional SenseID request signing: ``Authorization: key=..,timestamp=..,nonce=..,signature=..``.

signature = lower-case hex HMAC-SHA256(secret, "".join(sorted([key, nonce, timestamp]))), the scheme
SenseID clients already implement, so they only change their base URL. The signature does not cover
the body (that is the vendor's design); what it adds is who is calling, a freshness window and replay
protection, which is what per-key rate limits need. Off unless ``LIVEMATCH_API_KEYS`` is set.

The check runs on the event loop before the body is read, so an unauthenticated client costs one
header parse. Secrets are held as bytes in this object only; nothing here logs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from livematch.config import Settings
from livematch.errors import RateLimited, Unauthorized

PARTS = ("key", "timestamp", "nonce", "signature")
_TOKEN = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces; ',' is excluded below
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


def signature(secret: str, key: str, nonce: str, timestamp: str) -> str:
    """The SenseID signature: HMAC-SHA256 over the three strings sorted byte-wise, concatenated."""
    message = "".join(sorted([key, nonce, timestamp], key=str.encode)).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def authorization_header(key: str, secret: str, *, now: float | None = None, nonce: str | None = None) -> str:
    """A fresh header value for one request (what livematch's client and CLI send)."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(8)
    return f"key={key},timestamp={timestamp},nonce={nonce},signature={signature(secret, key, nonce, timestamp)}"


def parse_header(value: str) -> dict[str, str]:
    """The four ``name=value`` parts, comma-separated, any order, each exactly once (else 401)."""
    parts: dict[str, str] = {}
    for item in value.split(","):
        name, sep, field = item.strip().partition("=")
        name = name.strip().lower()
        field = field.strip()
        if not sep or name not in PARTS or name in parts:
            raise Unauthorized("malformed Authorization header")
        parts[name] = field
    if set(parts) != set(PARTS):
        raise Unauthorized("malformed Authorization header")
    ok = (
        _TOKEN.fullmatch(parts["key"])
        and _TOKEN.fullmatch(parts["nonce"])
        and _TIMESTAMP.fullmatch(parts["timestamp"])
        and _SIGNATURE.fullmatch(parts["signature"])
    )
    if not ok:
        raise Unauthorized("malformed Authorization header")
    return parts


def load_keys(spec: str) -> dict[str, str]:
    """``key1:secret1,key2:secret2``; a value without ':' is a file with one ``key:secret`` a line."""
    spec = spec.strip()
    if not spec:
        return {}
    if ":" not in spec:
        lines = Path(spec).expanduser().read_text().splitlines()
        items = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    else:
        items = [item.strip() for item in spec.split(",") if item.strip()]
    keys: dict[str, str] = {}
    for item in items:
        key, sep, secret = item.partition(":")
        key, secret = key.strip(), secret.strip()
        if not sep or not _TOKEN.fullmatch(key) or "," in key or not secret:
            raise ValueError("LIVEMATCH_API_KEYS: each entry must be key:secret (key without spaces or commas)")
        if key in keys:
            raise ValueError(f"LIVEMATCH_API_KEYS: key {key!r} listed twice")
        keys[key] = secret
    return keys


class Authenticator:
    """Verifies signed requests: known key, fresh timestamp, valid signature, unseen nonce, rate."""

    def __init__(
        self,
        keys: dict[str, str],
        *,
        window_seconds: float = 300.0,
        rate_per_minute: int = 120,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = dict(keys)
        self.window = window_seconds
        self.rate = rate_per_minute
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()  # (key, nonce) -> expiry
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator | None:
        """None when signing is off (no keys configured)."""
        keys = load_keys(settings.api_keys.get_secret_value())
        if not keys:
            return None
        return cls(keys, window_seconds=settings.auth_window_seconds, rate_per_minute=settings.auth_rate_per_minute)

    def check(self, header: str | None) -> str:
        """The authenticated key, or raise ``Unauthorized`` (401, 1401) / ``RateLimited`` (429, 1429)."""
        if not header:
            raise Unauthorized("Authorization header required")
        parts = parse_header(header)
        key, nonce, timestamp = parts["key"], parts["nonce"], parts["timestamp"]
        now = self._clock()
        if abs(now - int(timestamp)) > self.window:
            raise Unauthorized(f"timestamp outside the ±{self.window:g} s window (check the client clock)")
        secret = self._secrets.get(key)
        expected = signature(secret if secret is not None else "\0", key, nonce, timestamp)
        valid = hmac.compare_digest(expected, parts["signature"].lower())
        if secret is None or not valid:
            raise Unauthorized("invalid key or signature")
        self._remember(key, nonce, now)
        self._take_token(key, now)
        return key

    def _remember(self, key: str, nonce: str, now: float) -> None:
        """Reject a nonce seen within the window; entries expire once their timestamp could no longer pass."""
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        if (key, nonce) in self._seen:
            raise Unauthorized("nonce already used (replayed request)")
        self._seen[(key, nonce)] = now + 2 * self.window

    def _take_token(self, key: str, now: float) -> None:
        """Token bucket per key: ``rate`` requests a minute, bursts up to ``rate``; 0 disables."""
        if self.rate <= 0:
            return
        tokens, last = self._buckets.get(key, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - last) * self.rate / 60.0)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise RateLimited(retry_after=max(1, round((1.0 - tokens) * 60.0 / self.rate + 0.5)))
        self._buckets[key] = (tokens - 1.0, now)

"""A small Python client for a remote livematch (or SenseID-compatible) server.

It does what docs/API.md tells a client to do: encrypt each field (safe-mode envelope by default,
the vendor's fixed-IV scheme with ``compat=True``) or, with ``upload=True``, send raw multipart file
parts; and, with ``sign``, add the SenseID ``Authorization`` header computed fresh for every request.

    client = Client("https://verify.example", key=KEY, sign="my-key:my-secret")
    status, body = client.verify(photo_bytes, video_bytes, return_status=True)
"""

from __future__ import annotations

import httpx

from livematch.api.auth import authorization_header
from livematch.api.service import BOOLEANS
from livematch.crypto import FieldCipher

VERIFY_PATH = "/identity/silent_image_verification/stateless"


def parse_sign(value: str) -> tuple[str, str]:
    """``KEY:SECRET`` (the secret may itself contain ':')."""
    key, sep, secret = value.partition(":")
    if not sep or not key or not secret:
        raise ValueError("expected KEY:SECRET")
    return key, secret


class Client:
    """Posts verifications to ``url``; one instance may be reused (it keeps its connection pool)."""

    def __init__(
        self,
        url: str,
        *,
        key: str = "",
        iv: str = "",
        compat: bool = False,
        sign: str | tuple[str, str] | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._cipher = FieldCipher(key, iv) if key else None
        self._compat = compat
        self._sign = parse_sign(sign) if isinstance(sign, str) else sign
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, transport=transport)

    def verify(self, photo: bytes, video: bytes, *, upload: bool = False, **options: bool) -> tuple[int, dict]:
        """``(http_status, body)`` of one verification; ``options`` are the SenseID booleans."""
        unknown = set(options) - set(BOOLEANS)
        if unknown:
            raise TypeError(f"unknown options: {sorted(unknown)}")
        data = {name: "true" if value else "false" for name, value in options.items()}
        if upload:
            files = {"image_file": ("photo", photo), "video_file": ("video", video)}
        else:
            data |= {"encrypted_image": self._encrypt(photo, "encrypted_image")}
            data |= {"encrypted_video": self._encrypt(video, "encrypted_video")}
            files = {name: (None, value) for name, value in data.items()}
            data = {}
        headers = {"Authorization": authorization_header(*self._sign)} if self._sign else {}
        response = self._http.post(VERIFY_PATH, data=data, files=files, headers=headers)
        return response.status_code, response.json()

    def _encrypt(self, data: bytes, field: str) -> str:
        if self._cipher is None:
            raise ValueError("no key: pass key= (LIVEMATCH_DECRYPT_KEY of the server), or use upload=True")
        return self._cipher.encrypt_compat(data) if self._compat else self._cipher.encrypt_safe(data, field)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

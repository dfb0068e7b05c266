"""The verification route's request body for the OpenAPI description (the route reads it by hand).

The route parses three content types itself (duplicates, limits, raw file parts), so FastAPI cannot
infer the body; this describes it for clients, generators and the schema fuzzing in the tests.
"""

from __future__ import annotations

from livematch.api.service import BOOLEANS, REQUIRED

_ENCRYPTED = {
    "type": "string",
    "description": "base64 of the AES-256-GCM encrypted file (vendor fixed-IV mode or livematch safe envelope)",
}
_BOOLEAN = {
    "description": "JSON boolean, or the string true/false/1/0 (any case); default false",
    "oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false", "1", "0"]}],
}
_FIELDS = {"encrypted_video": _ENCRYPTED, "encrypted_image": _ENCRYPTED} | {name: _BOOLEAN for name in BOOLEANS}
_FILES = {
    "image_file": {"type": "string", "format": "binary", "description": "raw photo (LIVEMATCH_FILE_UPLOAD=true)"},
    "video_file": {"type": "string", "format": "binary", "description": "raw video (LIVEMATCH_FILE_UPLOAD=true)"},
}
_REQUIRED = list(REQUIRED)

REQUEST_BODY = {
    "required": True,
    "description": "Either both encrypted_* fields, or (file upload enabled, multipart only) both *_file parts.",
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": _FIELDS | _FILES}},
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": _FIELDS, "required": _REQUIRED}
        },
        "application/json": {"schema": {"type": "object", "properties": _FIELDS, "required": _REQUIRED}},
    },
}

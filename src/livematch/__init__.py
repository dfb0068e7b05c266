"""livematch: self-hosted, SenseID-compatible silent liveness and face verification.

Two of the inference runtimes would call home, so both are switched off here, before any module
imports them (docs/DEPLOY.md, "Outbound connections"):

- onnxruntime (1.29 and later, Linux too) uploads usage events to Microsoft and keeps a device id and an
  event queue under ``~/.cache/Microsoft``; ``ORT_DISABLE_TELEMETRY=1`` stops all of it.
- ``import openvino`` imports its model-conversion tools, which send usage events to Intel and write a
  client id under ``~/intel`` unless the user opted out. Making their telemetry package unimportable
  (``None`` in ``sys.modules``) makes them fall back to their built-in no-op stub.
"""

import os
import sys

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

__version__ = "0.1.0"

from livematch.config import Settings  # noqa: E402
from livematch.engine import Engine, VerifyOptions, VerifyResult  # noqa: E402

__all__ = ["Engine", "Settings", "VerifyOptions", "VerifyResult", "__version__"]

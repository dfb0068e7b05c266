"""livematch: self-hosted, SenseID-compatible silent liveness and face verification.

onnxruntime (1.29 and later, Linux too) uploads usage events to Microsoft and keeps a device id and an
event queue under ``~/.cache/Microsoft``. ``ORT_DISABLE_TELEMETRY=1`` stops all of it, and must be set
before onnxruntime loads, so it is set here (docs/DEPLOY.md, "Outbound connections").
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"

from livematch.config import Settings
from livematch.engine import Engine, VerifyOptions, VerifyResult

__all__ = ["Engine", "Settings", "VerifyOptions", "VerifyResult", "__version__"]

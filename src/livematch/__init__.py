"""livematch: self-hosted, SenseID-compatible silent liveness and face verification."""

__version__ = "0.1.0"

from livematch.config import Settings
from livematch.engine import Engine, VerifyOptions, VerifyResult

__all__ = ["Engine", "Settings", "VerifyOptions", "VerifyResult", "__version__"]

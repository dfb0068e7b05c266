"""Running an ONNX graph with OpenVINO, in bfloat16 where the CPU computes it natively.

SFace is the largest cost of embedding a face. onnxruntime's CPU kernels are float32 only; OpenVINO
runs the same graph in bfloat16 on CPUs with AVX512-BF16 or AMX, about twice as fast. Its SFace
vectors stay within cosine 0.9994 of the float32 ones, which moves no matching number
(docs/MODELS.md, "Runtime": same TAR and impostor quantiles on celeba-dev). Elsewhere it runs
float32, and ``precision`` says which. OpenVINO's telemetry is switched off in ``livematch/__init__``.
"""

from __future__ import annotations

import queue

import numpy as np
import openvino as ov


class OpenVinoModel:
    """A compiled ONNX graph with one input and one output, callable from any thread."""

    def __init__(self, model: bytes, *, threads: int) -> None:
        core = ov.Core()
        self.precision = "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"
        config = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": self.precision,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._compiled = core.compile_model(core.read_model(model, b""), "CPU", config)
        # An infer request holds its own buffers, so concurrent calls need one each. Idle ones are kept
        # for the next call from any thread: the liveness cues call from a fresh thread every time.
        self._idle: queue.SimpleQueue[ov.InferRequest] = queue.SimpleQueue()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The output for ``batch`` (a new array, not a view of the request's buffer)."""
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self._compiled.create_infer_request()
        try:
            return request.infer({0: batch})[0]
        finally:
            self._idle.put(request)

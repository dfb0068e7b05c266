"""The PRelu rewrite applied to every model the service loads must not change a single output."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from livematch.onnxutil import session, split_prelu


def _conv_prelu_model(slope: np.ndarray) -> bytes:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("PRelu", ["c", "a"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "conv_prelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 16, 16])],
        [weight, numpy_helper.from_array(slope, "a")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def test_prelu_rewrite_is_exact_for_slopes_outside_zero_one() -> None:
    """SFace has slopes from -0.81 to 1.12, so the rewrite cannot assume 0 <= a <= 1."""
    slope = np.array([-0.8, 0.0, 0.25, 1.12], np.float32).reshape(4, 1, 1)
    model = _conv_prelu_model(slope)
    x = np.random.default_rng(1).normal(size=(2, 3, 16, 16)).astype(np.float32)
    reference = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    rewritten = session(model)
    assert "PRelu" not in {
        node.op_type for node in onnx.load_from_string(split_prelu(onnx.load_from_string(model))).graph.node
    }
    assert np.allclose(rewritten.run(None, {"x": x})[0], reference, atol=1e-5)
    assert (reference < 0).any() and (reference > 0).any()  # both branches of PRelu were exercised

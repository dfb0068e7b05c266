"""OpenVINO models are called from many threads at once; each call must get its own input's output."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from onnx import TensorProto, helper

from livematch.openvinoutil import OpenVinoModel


def _row_sums() -> bytes:
    """y = x summed over its last axis: a graph whose output identifies its input."""
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0, axes=[2])],
        "row_sums",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]).SerializeToString()


def test_concurrent_calls_get_their_own_outputs() -> None:
    """A shared infer request would hand one call another's result; the model keeps one per concurrent call."""
    model = OpenVinoModel(_row_sums(), threads=1)
    inputs = [np.full((1 + i % 3, 4, 64), i, np.float32) for i in range(64)]  # small integers: exact in bf16
    with ThreadPoolExecutor(8) as pool:
        outputs = list(pool.map(model, inputs))
    assert all(np.array_equal(out, np.full((1 + i % 3, 4), 64.0 * i)) for i, out in enumerate(outputs))
    assert model.precision in ("bf16", "f32")

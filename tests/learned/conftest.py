"""Fixtures for the ONNX host tests: tiny hand-built ONNX models and one torch-exported MLP.

Hand-built models (onnx.helper) load in milliseconds, so every contract case gets its own; the
torch-exported MLP (~2 s to export and verify) is built once per session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from engine.learned.export import export_torch_module
from engine.learned.providers import RuntimeProbe

Shape = Sequence[int | str]

_NP = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64}


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    # onnx 1.23 writes IR version 14 by default, which ORT 1.31 rejects (max 13).
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def linear_onnx(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a model that flattens its inputs after axis 0, concatenates them and applies W.

    ``linear_onnx({"obs": ("batch", 16)}, out_features=5)`` gives ``obs [batch, 16] -> logits [batch, 5]``.
    Shapes and dtypes are free, so each contract case can build exactly the model it needs.
    """
    counter = iter(range(1000))

    def build(
        inputs: dict[str, Shape],
        out_features: int = 5,
        out_name: str = "logits",
        dtype: int = TensorProto.FLOAT,
        out_batch: int | str | None = None,
        seed: int = 0,
    ) -> Path:
        rng = np.random.default_rng(seed)
        nodes, flat, total = [], [], 0
        value_infos = []
        for name, shape in inputs.items():
            value_infos.append(helper.make_tensor_value_info(name, dtype, list(shape)))
            nodes.append(helper.make_node("Flatten", [name], [f"{name}_flat"], axis=1))
            flat.append(f"{name}_flat")
            total += int(np.prod([d for d in shape[1:]])) if len(shape) > 1 else 1
        joined = flat[0]
        if len(flat) > 1:
            nodes.append(helper.make_node("Concat", flat, ["joined"], axis=1))
            joined = "joined"
        weight = numpy_helper.from_array(
            rng.standard_normal((total, out_features)).astype(_NP[dtype]), name="W"
        )
        nodes.append(helper.make_node("MatMul", [joined, "W"], [out_name]))
        batch = out_batch if out_batch is not None else next(iter(inputs.values()))[0]
        out = helper.make_tensor_value_info(out_name, dtype, [batch, out_features])
        graph = helper.make_graph(nodes, "linear", value_infos, [out], initializer=[weight])
        return _save(graph, tmp_path / f"linear_{next(counter)}.onnx")

    return build


@pytest.fixture
def log_onnx(tmp_path: Path) -> Path:
    """``x [batch, 3] -> y = log(x) [batch, 3]`` and ``z = x * 2``: NaN where x < 0, -inf where x == 0."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 3])
    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), name="two")
    nodes = [helper.make_node("Log", ["x"], ["y"]), helper.make_node("Mul", ["x", "two"], ["z"])]
    graph = helper.make_graph(nodes, "log", [x], [y, z], initializer=[two])
    return _save(graph, tmp_path / "log.onnx")


class Mlp(torch.nn.Module):
    """16 -> 64 -> 64 -> 5 tanh MLP, the reference policy size."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, 64),
            torch.nn.Tanh(),
            torch.nn.Linear(64, 64),
            torch.nn.Tanh(),
            torch.nn.Linear(64, 5),
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


@pytest.fixture(scope="session")
def exported_mlp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Mlp, Path]:
    """The torch MLP and its verified ONNX export (dynamic batch), built once per test session."""
    torch.manual_seed(0)
    module = Mlp().eval()
    path = tmp_path_factory.mktemp("mlp") / "mlp.onnx"
    export_torch_module(module, {"obs": torch.randn(8, 16)}, path, output_names=["logits"])
    return module, path


@pytest.fixture(scope="session")
def probe() -> RuntimeProbe:
    """One CUDA probe for the whole test session, as the engine keeps one per process."""
    return RuntimeProbe()


@pytest.fixture(scope="session")
def cuda_works(probe: RuntimeProbe) -> bool:
    return probe.cuda().works

"""The plugins' module.py files are generated from engine/distill/modules.py, and their weights load with them."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.distill.modules import PolicyMLP, SplatRenderer
from engine.distill.plugin import write_plugin
from engine.distill.vendoring import load_vendored, main, plugin_classes, vendored_module_source

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
DISTILLED = sorted(p for p in PLUGINS.iterdir() if p.is_dir() and list(p.glob("*.pt")))

# torch.onnx notes that two inputs share the dynamic batch axis: expected, nothing to act on
pytestmark = pytest.mark.filterwarnings("ignore:# The axis name")


def test_the_shipped_distilled_plugins_are_found():
    assert {p.name for p in DISTILLED} >= {"tag_dynamics", "tag_renderer", "tag_bc"}


@pytest.mark.parametrize("folder", DISTILLED, ids=lambda p: p.name)
def test_committed_module_py_is_the_generated_source(folder):
    expected = vendored_module_source(plugin_classes(folder))
    assert (folder / "module.py").read_text() == expected, (
        f"{folder / 'module.py'} is stale or edited by hand; regenerate it with "
        f"`python -m engine.distill.vendoring plugins/{folder.name}`")
    assert main(["--check", str(folder)]) == 0


@pytest.mark.parametrize("pt", [pt for f in DISTILLED for pt in sorted(f.glob("*.pt"))],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_weights_load_with_module_py_and_match_the_onnx_model(pt):
    model = load_vendored(pt)
    assert type(model).__module__.startswith("_worldloom_plugin_"), "built from the folder's module.py"
    sess = ort.InferenceSession(str(pt.with_suffix(".onnx")), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    feeds = {i.name: torch.randint(0, 256, (3, *i.shape[1:]), generator=g, dtype=torch.uint8)  # frames
             if i.type == "tensor(uint8)" else torch.rand(3, *i.shape[1:], generator=g) * 2 - 1
             for i in sess.get_inputs()}
    expected = sess.run(None, {k: v.numpy() for k, v in feeds.items()})
    with torch.no_grad():
        got = model(**feeds)
    got = got if isinstance(got, tuple) else (got,)  # an inverse model returns (logits, cut)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e, atol=1e-4, rtol=1e-4)


def test_only_the_classes_used_and_what_they_need():
    src = vendored_module_source([SplatRenderer])
    assert "class SplatRenderer(nn.Module):" in src
    assert "def mlp(" not in src and "class WorldDynamics" not in src  # SplatRenderer needs no MLP
    assert src.startswith("# Generated from engine/distill/modules.py")
    assert "python -m engine.distill.vendoring" in src.splitlines()[1]
    assert "def mlp(" in vendored_module_source(["EntityDynamics"])
    compile(src, "module.py", "exec")
    with pytest.raises(Exception, match="no class 'Nope'"):
        vendored_module_source(["Nope"])


def test_write_plugin_vendors_every_class_of_the_folder(tmp_path):
    def contract():
        return {"kind": "test", "inputs": [], "outputs": [], "command": "", "yaml": ""}

    write_plugin(tmp_path, "policy", PolicyMLP(3), {"obs": torch.randn(4, 3)}, ["logits"], contract(),
                 {"obs_size": 3})
    assert (tmp_path / "module.py").read_text() == vendored_module_source(["PolicyMLP"])
    renderer = SplatRenderer(type_id=torch.tensor([0, 1]), num_types=2, size=(8, 8), camera=(0.0, 0.0, 1.0))
    write_plugin(tmp_path, "render", renderer, {"state": torch.rand(2, 4)}, ["image"], contract(),
                 {"type_id": [0, 1], "num_types": 2, "size": [8, 8], "camera": [0.0, 0.0, 1.0]})
    assert (tmp_path / "module.py").read_text() == vendored_module_source(["PolicyMLP", "SplatRenderer"])
    for stem in ("policy", "render"):
        load_vendored(tmp_path / f"{stem}.pt")
    (tmp_path / "module.py").write_text((tmp_path / "module.py").read_text() + "# edited\n")
    assert main(["--check", str(tmp_path)]) == 1
    assert main([str(tmp_path)]) == 0 and main(["--check", str(tmp_path)]) == 0

"""The compiled tick (engine.scheduler): traced once, called without guards — so it must stay equal to
the eager tick, keep Sims apart, and never read an input laid out other than as it was traced."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

import engine
from engine.errors import UserCodeError
from engine.scheduler import _Compiled

pytestmark = pytest.mark.slow_compile


def _run(sim, actions: list[dict]) -> list[torch.Tensor]:
    sim.reset(seed=5)
    out = []
    for a in actions:
        obs, rew, *_ = sim.step(a)
        out += [sim.state["pos"].clone()] + [o.clone() for o in obs.values()] + [r.clone() for r in rew.values()]
    return out


def _actions(sim, n: int, seed: int = 0) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    return [sim.sample_actions(gen) for _ in range(n)]


def test_the_tick_is_one_traced_segment_equal_to_the_eager_tick() -> None:
    """forage: agents die and respawn (a pre-tick hook draws), episodes end and reset, over 80 ticks."""
    eager = engine.make("forage", num_worlds=5, seed=1)
    fused = engine.make("forage", num_worlds=5, seed=1, compile=True)
    acts = _actions(eager, 80)
    for a, b in zip(_run(eager, acts), _run(fused, acts)):
        assert torch.allclose(a, b, atol=1e-5)
    (seg,) = [f for _, f, _ in fused._tick.segments if isinstance(f, _Compiled)]
    assert seg.traced  # inductor's callable, no Dynamo frame around it


def test_two_sims_in_one_process_keep_their_own_compiled_ticks() -> None:
    """Guards are skipped: each Sim's segment must be its own compiled graph, whatever the batch."""
    small = engine.make("tag", num_worlds=2, seed=2, compile=True)  # the graph test_action_check compiled
    large = engine.make("tag", num_worlds=7, seed=2, compile=True, overrides={"world.damping": 0.5})
    ref_small = engine.make("tag", num_worlds=2, seed=2)
    ref_large = engine.make("tag", num_worlds=7, seed=2, overrides={"world.damping": 0.5})
    a_small, a_large = _actions(small, 30, 1), _actions(large, 30, 2)
    small.reset(seed=5)
    large.reset(seed=5)
    got_small, got_large = [], []
    for x, y in zip(a_small, a_large):  # interleaved, as two envs in one training process
        got_small.append(small.step(x)[0]["adversary"].clone())
        got_large.append(large.step(y)[0]["adversary"].clone())
    ref_small.reset(seed=5)
    ref_large.reset(seed=5)
    for x, y, gs, gl in zip(a_small, a_large, got_small, got_large):
        assert torch.allclose(ref_small.step(x)[0]["adversary"], gs, atol=1e-5)
        assert torch.allclose(ref_large.step(y)[0]["adversary"], gl, atol=1e-5)


def test_non_contiguous_actions_are_read_as_values_not_as_memory() -> None:
    sim = engine.make("tag", num_worlds=4, seed=0, compile=True, overrides={"agents.*.action": "continuous"})
    twin = engine.make("tag", num_worlds=4, seed=0, compile=True, overrides={"agents.*.action": "continuous"})
    sim.reset(seed=1)
    twin.reset(seed=1)
    for i, a in enumerate(_actions(sim, 10)):  # compiled on the first (contiguous) step, then strided ones
        strided = {g: torch.stack([v, v], -1)[..., 0] for g, v in a.items()}  # same values, stride 2
        assert not strided["adversary"].is_contiguous()
        assert torch.equal(sim.step(strided if i else a)[0]["adversary"], twin.step(a)[0]["adversary"])


HOOK = textwrap.dedent("""\
    def build(app):
        calls = {"n": 0}

        def shrink_later(state, generator, B):
            calls["n"] += 1
            if calls["n"] > 4:  # fine while the world loads and for the first ticks
                state["pos"] = state["pos"][:, :2]

        app.add_pre_tick(shrink_later)
    """)


def test_a_pre_tick_hook_that_writes_the_wrong_shape_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "shrink.py").write_text(HOOK)
    world = (Path(engine.__file__).parent.parent / "worlds" / "tag.yaml").read_text()
    (tmp_path / "tag.yaml").write_text(world.replace("\nname: tag\n", "\nname: tag\nextensions: [shrink]\n"))
    sim = engine.make(tmp_path / "tag.yaml", num_worlds=2, trust=[tmp_path], compile=True)
    sim.reset()
    with pytest.raises(UserCodeError, match=r"pre-tick hook wrote state of the wrong kind: state 'pos'"):
        for _ in range(6):
            sim.step(sim.sample_actions())


BRANCHY = textwrap.dedent("""\
    def slow_down_late(state):
        # Python branching on a tensor value: not traceable once, so the segment falls back to Dynamo
        if int(state["tick"].max()) > 3:
            state["vel"] = state["vel"] * 0.5
    """)


def test_a_segment_with_python_branching_on_values_falls_back_to_dynamo_and_stays_exact(tmp_path: Path) -> None:
    (tmp_path / "branchy.py").write_text(BRANCHY)
    world = (Path(engine.__file__).parent.parent / "worlds" / "tag.yaml").read_text()
    world = world.replace("\n  - physics ", "\n  - {system: branchy.slow_down_late}\n  - physics ")
    assert "branchy" in world
    (tmp_path / "tag.yaml").write_text(world)
    eager = engine.make(tmp_path / "tag.yaml", num_worlds=3, trust=[tmp_path])
    fused = engine.make(tmp_path / "tag.yaml", num_worlds=3, trust=[tmp_path], compile=True)
    acts = _actions(eager, 12)
    for a, b in zip(_run(eager, acts), _run(fused, acts)):
        assert torch.allclose(a, b, atol=1e-5)
    assert not any(f.traced for _, f, _ in fused._tick.segments if isinstance(f, _Compiled))


@pytest.mark.parametrize("world", ["grid/doorkey", "tag", "ctf"])
def test_small_segments_get_the_cpp_wrapper_and_equal_the_eager_tick(world, monkeypatch) -> None:
    """At one world a segment is dispatch-bound and, by default, compiled with inductor's C++ wrapper (the
    suite turns it off elsewhere: see conftest.py): 60 ticks equal the eager ones (tag and ctf end episodes in them)."""
    monkeypatch.setenv("WORLDLOOM_CPP_WRAPPER", "auto")
    eager = engine.make(world, num_worlds=1, seed=2)
    fused = engine.make(world, num_worlds=1, seed=2, compile=True)
    acts = _actions(eager, 60, seed=3)
    for a, b in zip(_run(eager, acts), _run(fused, acts)):
        assert torch.allclose(a, b, atol=1e-5)
    segments = [f for _, f, _ in fused._tick.segments if isinstance(f, _Compiled)]
    assert segments and all(s.traced and "cpp_wrapper_src" in s.compiled.source_code for s in segments)


def test_the_cpp_wrapper_setting(monkeypatch) -> None:
    from engine.errors import UserError
    from engine.scheduler import SMALL_SEGMENT, cpp_wrapper

    small, large = [torch.zeros(10)], [torch.zeros(SMALL_SEGMENT + 1)]
    monkeypatch.setenv("WORLDLOOM_CPP_WRAPPER", "auto")
    assert cpp_wrapper(small) and not cpp_wrapper(large)
    monkeypatch.setenv("WORLDLOOM_CPP_WRAPPER", "1")
    assert cpp_wrapper(large)
    monkeypatch.setenv("WORLDLOOM_CPP_WRAPPER", "0")
    assert not cpp_wrapper(small)
    monkeypatch.setenv("WORLDLOOM_CPP_WRAPPER", "yes")
    with pytest.raises(UserError, match="WORLDLOOM_CPP_WRAPPER: expected auto, 0 or 1, got 'yes'"):
        cpp_wrapper(small)

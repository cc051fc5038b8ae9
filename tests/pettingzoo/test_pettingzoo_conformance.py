"""PettingZoo's own test module on every shipped world: the AEC and parallel API tests, the seed
tests, the max-cycles test and the state test (``pettingzoo.test``), plus variants for continuous
actions, a scripted group, agent death and action masks.

The tests run the eager tick (``compile=False``: the compiled tick is checked against it in
tests/test_pettingzoo.py) and short episodes (``max_cycles``), so they cover episode ends quickly.
"""

from __future__ import annotations

import functools
import types
from pathlib import Path

import pytest
from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, parallel_seed_test, seed_test, state_test
from pz_helpers import FLEE, HUNT, ROOT, SHIPPED, skip_without_agents, world_id

from engine.pettingzoo import env, parallel_env

# PettingZoo's advice that does not apply to these worlds (unbounded float observations, a spare slot
# that is never live, an agent that is legitimately alone in its group) is noise here.
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning:pettingzoo.test.api_test"),
              pytest.mark.filterwarnings("ignore::UserWarning:pettingzoo.test.state_test"),
              pytest.mark.filterwarnings("ignore::UserWarning:pettingzoo.test.parallel_test")]

CYCLES = 12  # episode length in these tests: every test crosses at least one episode end

CASES = [pytest.param((w, {}), id=world_id(w)) for w in SHIPPED] + [
    pytest.param((ROOT / "worlds" / "tag.yaml", {"agents.*.action": "continuous"}), id="tag-continuous"),
    pytest.param((ROOT / "worlds" / "tag.yaml", FLEE), id="tag-scripted-prey"),
    pytest.param((HUNT, {}), id="hunt-agent-death"),
    pytest.param("masked", id="tag-action-masks"),
]


def _module(world: Path, overrides: dict, **kw) -> types.SimpleNamespace:
    """What PettingZoo's tests take as an environment module: ``env`` and ``parallel_env`` factories."""
    common = dict(compile=False, overrides=overrides, **kw)
    return types.SimpleNamespace(env=functools.partial(env, world, **common), world=world,
                                 parallel_env=functools.partial(parallel_env, world, **common))


@pytest.fixture(params=CASES)
def world_module(request, masked_tag) -> types.SimpleNamespace:
    if request.param == "masked":
        world, trust = masked_tag
        return _module(world, {}, trust=trust)
    world, overrides = request.param
    skip_without_agents(world)
    return _module(world, overrides)


def test_aec_api(world_module):
    api_test(world_module.env(max_cycles=CYCLES), num_cycles=3 * CYCLES)


def test_parallel_api(world_module):
    parallel_api_test(world_module.parallel_env(max_cycles=CYCLES), num_cycles=3 * CYCLES)


def test_aec_seed(world_module):
    seed_test(functools.partial(world_module.env, max_cycles=CYCLES), num_cycles=3 * CYCLES)


def test_parallel_seed(world_module):
    parallel_seed_test(functools.partial(world_module.parallel_env, max_cycles=CYCLES), num_cycles=3 * CYCLES)


def test_max_cycles(world_module):
    if world_module.world == HUNT:
        pytest.skip("hunt.yaml kills most runners in the first ticks (by design: it tests agent death), and "
                    "max_cycles_test assumes most agents live through its 4 cycles; truncation at max_cycles "
                    "with dead agents is checked on forage and in tests/test_pettingzoo.py")
    max_cycles_test(world_module)


def test_state(world_module):
    state_test(world_module.env(max_cycles=CYCLES), world_module.parallel_env(max_cycles=CYCLES),
               num_cycles=CYCLES)

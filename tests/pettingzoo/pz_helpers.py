"""Shared by the PettingZoo tests: the shipped worlds, a world with action masks, a private X server
(the fixtures are registered by conftest.py; the test modules import the rest from here).

The X server fixture follows tests/test_play_window.py: it starts its own ``Xvfb :N`` on a free display
number and stops exactly that server (the PID in ``/tmp/.X<N>-lock``); without Xvfb the tests that
need it skip and say what to install. It is started once per session (a display test module may use
it many times).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from wl_test_support import masked_tag_world

import engine

ROOT = Path(__file__).resolve().parents[2]
#: Every shipped world: worlds/*.yaml, worlds/mpe/*.yaml, worlds/grid/*.yaml and the worked examples.
SHIPPED = (sorted((ROOT / "worlds").glob("*.yaml")) + sorted((ROOT / "worlds" / "mpe").glob("*.yaml"))
           + sorted((ROOT / "worlds" / "grid").glob("*.yaml"))
           + sorted((ROOT / "worlds" / "examples").rglob("*.yaml")))
HUNT = ROOT / "tests" / "train" / "hunt.yaml"  # runners that die, and a spare slot dead at reset
FLEE = {"systems": [{"scripted_flee": {"agents": "prey", "threat": ["adversary"]}}, "physics"]}



def world_id(world: Path) -> str:
    return world.stem


@functools.cache
def external_groups(world: Path) -> tuple[str, ...]:
    return tuple(engine.make(world, num_worlds=1).external_groups)


def skip_without_agents(world: Path) -> None:
    if not external_groups(world):
        pytest.skip(f"{world.relative_to(ROOT)}: no externally controlled agent group (every group is driven "
                    "by a system or plugin of the world file), so there is no PettingZoo agent to test")


@pytest.fixture(scope="session")
def masked_tag(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """``tag`` with the masking extension: ``(world file, trust list)`` for ``parallel_env``."""
    folder = tmp_path_factory.mktemp("masked_tag")
    return masked_tag_world(folder, "masked_tag"), [folder]



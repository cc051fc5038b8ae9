"""The thread policy: one thread for small batches; for large ones, the faster of 1 and all cores as
measured on the real ticks — and back to 1 when the machine gets busy."""

from __future__ import annotations

import pytest
import torch

import engine
from engine.core import threads as threads_mod
from engine.core.threads import ThreadPolicy


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_small_batches_use_one_thread() -> None:
    policy = ThreadPolicy("auto", num_worlds=64, n_entities=6)
    assert torch.get_num_threads() == 1 and not policy.adaptive
    assert "small batch" in policy.describe()


def test_a_number_is_used_as_given_and_none_leaves_torch_alone() -> None:
    ThreadPolicy(2, 1, 6)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    ThreadPolicy(None, 4096, 6)
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError):
        ThreadPolicy(0, 1, 6)


def test_large_batches_follow_the_measured_winner(monkeypatch) -> None:
    monkeypatch.setattr(threads_mod, "cores", lambda: 2)
    now = [0.0]  # a fake clock: each tick costs exactly what `cost` says, however busy the test machine is
    policy = ThreadPolicy("auto", num_worlds=4096, n_entities=6, period=0.012, trial=2, first_check=2,
                          clock=lambda: now[0])
    assert policy.adaptive and torch.get_num_threads() == 1
    cost = {1: 0.004, 2: 0.002}  # an idle machine: 2 threads are faster

    def tick():
        now[0] += cost[torch.get_num_threads()]
        return torch.get_num_threads()

    ran = [policy.timed(tick) for _ in range(20)]
    assert policy.current == 2 and ran[-1] == 2
    cost[2] = 0.03  # another process now holds a core: 2 threads collapse
    ran = [policy.timed(tick) for _ in range(40)]
    assert policy.current == 1 and ran[-1] == 1
    # the loser is re-checked less and less often (back-off), so the collapse costs little
    assert ran.count(2) <= 6, ran
    assert "auto → 1" in policy.describe()


def test_make_uses_the_policy_by_default() -> None:
    sim = engine.make("tag", num_worlds=8)
    assert sim.threads.requested == "auto" and torch.get_num_threads() == 1

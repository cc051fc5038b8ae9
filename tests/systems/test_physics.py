"""The physics functions against a float64 reference written the MPE way (pair by pair)."""

import numpy as np
import pytest
import torch

from engine.systems.physics import PairList, contact_forces, integrate


def reference_contacts(pos, radius, active, cf=100.0, margin=1e-3):
    """mpe2's get_collision_force summed over pairs, in float64 numpy."""
    B, N, _ = pos.shape
    out = np.zeros((B, N, 2))
    for b in range(B):
        for a in range(N):
            for c in range(a + 1, N):
                if not (active[b, a] and active[b, c]):
                    continue
                d = pos[b, a] - pos[b, c]
                dist = np.sqrt((d * d).sum())
                pen = np.logaddexp(0, -(dist - radius[b, a] - radius[b, c]) / margin) * margin
                f = cf * d / dist * pen
                out[b, a] += f
                out[b, c] -= f
    return out


@pytest.mark.parametrize("n", [2, 6, 12])
def test_contact_forces_match_the_pairwise_reference_in_both_formulations(n):
    g = torch.Generator().manual_seed(n)
    B = 16
    pos = torch.rand(B, n, 2, generator=g) * 0.8 - 0.4  # crowded: many contacts
    radius = torch.rand(B, n, generator=g) * 0.1 + 0.05
    active = torch.rand(B, n, generator=g) > 0.2
    ref = reference_contacts(pos.double().numpy(), radius.double().numpy(), active.numpy())
    planes = contact_forces(pos, radius, active, 100.0, 1e-3)
    pairs = contact_forces(pos, radius, active, 100.0, 1e-3, PairList.build(n, torch.float32, pos.device))
    assert np.abs(ref).max() > 1.0, "the case must have real contacts"
    np.testing.assert_allclose(planes.numpy(), ref, atol=2e-4, rtol=1e-5)
    np.testing.assert_allclose(pairs.numpy(), ref, atol=2e-4, rtol=1e-5)


def test_integrate_uses_the_old_velocity_for_position_and_clamps_speed():
    pos = torch.zeros(1, 2, 2)
    vel = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    force = torch.tensor([[[0.0, 100.0], [3.0, 4.0]]])
    mass = torch.ones(1, 2)
    max_speed = torch.tensor([[2.0, float("inf")]])
    moving = torch.tensor([[True, False]])
    p, v = integrate(pos, vel, force, mass, max_speed, moving, dt=0.1, damping=0.25)
    assert torch.allclose(p[0, 0], torch.tensor([0.1, 0.0]))  # old velocity × dt
    expected = torch.tensor([0.75, 10.0])
    assert torch.allclose(v[0, 0], expected / expected.norm() * 2.0)  # clamped to max_speed
    assert torch.equal(p[0, 1], pos[0, 1]) and torch.equal(v[0, 1], vel[0, 1])  # not moving

"""The shipped learned tag world: learned dynamics (shadowed), behaviour-cloned NPCs, learned renderer."""

import engine


def test_tag_learned_runs_headless_and_reports_drift():
    sim = engine.make("tag_learned", num_worlds=16, seed=0)
    sim.reset(seed=0)
    assert set(sim.controlled_by) == {"adversary", "prey"}
    drift = []
    for _ in range(20):
        _, _, _, _, info = sim.step()
        drift.append(float(info["metrics"]["learned_physics.drift_pos"]))
        assert float(info["metrics"]["learned_physics.nonfinite"]) == 0
    assert 0 < max(drift) < 0.2  # learned, so not exact; but close to the hand-coded physics
    image = sim.render_learned()
    assert image.shape == (16, 3, 64, 64) and 0 <= float(image.min()) and float(image.max()) <= 1.0 + 1e-6
    # the learned renderer agrees with the GL renderer's look: a white background, darker entities
    assert float(image.mean()) > 0.8 and float(image.amin(dim=(2, 3)).max()) < 0.9
    report = sim.plugin_report()
    assert report["learned_physics"]["calls"] == 20 and report["prey_bc"]["calls"] == 20


"""The pixel world model: its pieces against hand-made references, a short distill end to end, the shipped model."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli.main import main
from engine.distill.modules import KeypointDecoder, KeypointDynamics, KeypointEncoder
from engine.distill.pixel_metrics import centroids, psnr, ssim, window_starts
from engine.distill.world_model import palette, pseudo_labels
from engine.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore:# The axis name")
ROOT = Path(__file__).resolve().parents[2]
COLORS = ["--set", "entities.adversary.spawn.color={each: [[0.85, 0.25, 0.25], [0.9, 0.6, 0.15], [0.65, 0.2, 0.7]]}",
          "--set", "entities.obstacle.spawn.color={each: [[0.25, 0.25, 0.25], [0.45, 0.45, 0.55]]}"]


def test_palette_is_the_most_common_distinct_colours_and_refuses_lookalikes() -> None:
    img = np.full((1, 10, 10, 3), 255, np.uint8)
    img[0, :3, :3] = (200, 50, 50)  # 9 pixels
    img[0, 5:7, 5:7] = (50, 200, 50)  # 4
    img[0, 9, 9] = (201, 51, 50)  # one pixel of a near-identical red: not a colour of its own
    pal = palette(img, 2)
    np.testing.assert_allclose(pal * 255, [[255, 255, 255], [200, 50, 50], [50, 200, 50]], atol=1e-3)
    with pytest.raises(UserError, match="entities must look different"):
        palette(img, 3)


def test_pseudo_labels_are_coverage_for_rims_and_ignore_two_disk_blends() -> None:
    colors = torch.tensor([[0.8, 0.2, 0.2], [0.2, 0.2, 0.8], [1.0, 1.0, 1.0]])  # two slots, background last
    px = torch.tensor([[0.8, 0.2, 0.2], [1.0, 1.0, 1.0], [0.9, 0.6, 0.6], [0.5, 0.2, 0.5]])  # red, bg, rim, red+blue
    t = pseudo_labels(px.T.reshape(1, 3, 1, 4), colors)[0, :, 0]  # [C, 4]
    torch.testing.assert_close(t[:, 0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(t[:, 1], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(t[:, 2], torch.tensor([0.5, 0.0, 0.5]))  # half red over white
    assert float(t[:, 3].abs().sum()) == 0.0  # not on any slot–background line: ignored


def test_windows_never_cross_an_episode_end() -> None:
    done = torch.zeros(12, 2, dtype=torch.bool)
    done[4, 0] = True  # world 0: frames 0…4 and 5…11 are two episodes
    w = window_starts(done, 3)  # frames t … t + 3
    got = {(int(t), int(b)) for t, b in w}
    assert got == {(0, 0), (1, 0), (5, 0), (6, 0), (7, 0), (8, 0)} | {(t, 1) for t in range(9)}


def test_ssim_equals_the_direct_two_dimensional_window_in_float64() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 24, 24, 3, generator=g)
    b = (a + 0.1 * torch.randn(3, 24, 24, 3, generator=g)).clamp(0, 1)
    x, y = a.permute(0, 3, 1, 2).double(), b.permute(0, 3, 1, 2).double()
    k = torch.exp(-(torch.arange(11, dtype=torch.float64) - 5) ** 2 / (2 * 1.5 ** 2))
    k = (k / k.sum()).view(-1, 1)
    w = (k @ k.T).expand(3, 1, 11, 11)
    f = lambda z: torch.nn.functional.conv2d(z, w, groups=3)  # noqa: E731
    mx, my = f(x), f(y)
    vx, vy, cxy = f(x * x) - mx ** 2, f(y * y) - my ** 2, f(x * y) - mx * my
    ref = ((2 * mx * my + 1e-4) * (2 * cxy + 9e-4)) / ((mx ** 2 + my ** 2 + 1e-4) * (vx + vy + 9e-4))
    torch.testing.assert_close(ssim(b, a).double(), ref.flatten(1).mean(1), atol=1e-5, rtol=0)
    assert torch.allclose(ssim(a, a), torch.ones(3))
    assert float(psnr(a, a)[0]) == pytest.approx(100.0)


def test_keypoints_and_centroids_find_a_disk_to_a_fraction_of_a_pixel() -> None:
    """A decoder-drawn disk at a sub-pixel place: the colour centroid (whole pixels) finds it within a quarter
    pixel; an encoder whose masks are the disk's coverage (the decoder's alpha) to 0.03 pixel."""
    dec = KeypointDecoder(1, (32, 32), radius=0.2)
    dec.color.data[:] = torch.tensor([[0.9, 0.1, 0.1]])
    dec.background.data[:] = 1.0
    latent = torch.tensor([[0.113, -0.271, 0.0, 0.0]])
    img = dec(latent)
    col, row = (0.113 + 1) / 2 * 32 - 0.5, (-0.271 + 1) / 2 * 32 - 0.5
    c = centroids(img, torch.tensor([[0.9, 0.1, 0.1]]), tolerance=0.05)[0, 0]
    assert abs(float(c[0]) - col) < 0.25 and abs(float(c[1]) - row) < 0.25  # whole pixels of the colour
    enc = KeypointEncoder(1, (32, 32))
    alpha = (1.0 - img[..., 1:2].permute(0, 3, 1, 2)) / 0.9  # green channel: 1 off the disk, 0.1 on it
    kp = enc.keypoints(torch.cat([alpha, 1 - alpha], 1))[0, 0]
    torch.testing.assert_close(kp, latent[0, :2], atol=2e-3, rtol=0)
    assert float(enc.keypoints(torch.cat([alpha * 0, 1 + alpha * 0], 1))[0, 0, 0]) == pytest.approx(3.0)  # absent


def test_coverage_encoder_places_disks_hidden_by_another_or_the_border_and_radii_come_from_the_frames() -> None:
    """A red disk under a blue one, and one half off the image: with the radii that ``disk_radii`` reads from
    frames, the encoder's keypoints are the disks' centres (a twentieth of a pixel); without, the centroid of
    what shows is half a pixel off."""
    from test_inverse import disk, over

    from engine.distill.modules import CoverageEncoder
    from engine.distill.world_model import disk_radii

    red, blue = (0.85, 0.25, 0.25), (0.25, 0.25, 0.85)
    colors = [list(red), list(blue), [1.0, 1.0, 1.0]]
    cases = [((12.0, 16.0), (15.2, 16.5)), ((1.2, 20.0), (25.0, 25.0))]
    frames = torch.from_numpy(np.stack([over(disk(32, *r, 2.4, red), disk(32, *b, 2.4, blue), blue)
                                        for r, b in cases]))
    alone = torch.from_numpy(np.stack([over(disk(32, 8.0, 8.0, 2.4, red), disk(32, 22.3, 20.1, 2.4, blue), blue)]))
    radius = disk_radii(torch.tensor(colors[:2]), torch.tensor(colors[2]), torch.cat([alone, frames]).unsqueeze(0))
    np.testing.assert_allclose(radius, [2.4, 2.4], atol=0.05)
    truth = torch.tensor([r for r, _ in cases]) / 16 - 1  # image units
    for enc, tol, far in [(CoverageEncoder(colors, (32, 32), radius=radius), 0.05 / 16, False),
                          (CoverageEncoder(colors, (32, 32)), 0.7 / 16, True)]:
        latent = enc(torch.stack([frames, frames], 1))  # [2, 8]: keypoints of two slots, then motion 0
        err = (latent[:, :2] - truth).norm(dim=-1)
        assert bool((err < tol).all()) and bool((err > 0.4 / 16).all()) == far, err * 16


def test_untrained_dynamics_keeps_every_slot_moving() -> None:
    dyn = KeypointDynamics(num_slots=2, num_agents=1, num_actions=5)
    z = torch.tensor([[0.1, 0.2, -0.3, 0.4, 0.01, 0.02, 0.0, -0.05]])
    torch.testing.assert_close(dyn(z, torch.eye(5)[None, :1]), torch.tensor([[0.11, 0.22, -0.3, 0.35, 0.01, 0.02,
                                                                              0.0, -0.05]]))


def test_slot_dynamics_clips_each_slot_to_its_speed_limit_after_the_forces() -> None:
    from engine.distill.modules import SlotDynamics

    dyn = SlotDynamics(num_slots=2, num_agents=1, num_actions=5, agent_slots=[0], speed_limit=[0.1, 0.02],
                       per_slot_linear=True)
    with torch.no_grad():
        dyn.self_lin.bias.fill_(1.0)  # a push of motion_scale (0.05) per step on both slots and axes
    z = torch.tensor([[0.0, 0.0, 0.5, 0.5, 0.06, 0.0, 0.0, 0.0]])
    out = dyn(z, torch.zeros(1, 1, 5))
    torch.testing.assert_close(out[0, :4], torch.tensor([0.06, 0.0, 0.5, 0.5]))  # x' = x + dx
    speed = out[0, 4:].view(2, 2).norm(dim=-1)
    torch.testing.assert_close(speed, torch.tensor([0.1, 0.02]))  # both pushed past their limits
    slow = dyn(torch.zeros(1, 8), torch.zeros(1, 1, 5))[0, 4:].view(2, 2).norm(dim=-1)
    assert slow[0] < 0.1  # under the limit: untouched (0.05·√2 ≈ 0.071)


def test_linear_motion_fit_recovers_per_slot_damping_and_push_despite_outliers() -> None:
    """Tracks of two slots made by a known law (damping, a different push per slot and action), 10 % of
    steps kicked at random (contacts the linear path must not absorb): the fit finds the law to 1e-3."""
    from engine.distill.modules import SlotDynamics
    from engine.distill.world_model import fit_linear_motion, speed_limits

    g = torch.Generator().manual_seed(0)
    S, B, s = 120, 32, 0.05
    table = torch.tensor([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=torch.float32)
    push = torch.tensor([0.6, 0.8])  # per slot, in motion_scale units
    act = torch.randint(0, 5, (S, B, 2), generator=g)
    xy, dx = torch.zeros(S, B, 2, 2), torch.zeros(B, 2, 2)
    for t in range(1, S):
        xy[t] = xy[t - 1] + dx
        kick = (torch.rand(B, 2, 1, generator=g) < 0.1) * torch.randn(B, 2, 2, generator=g) * 0.05
        dx = 0.75 * dx + s * push.view(1, 2, 1) * table[act[t - 1]] + kick
    actions = torch.nn.functional.one_hot(act, 5).float()
    seen, done = torch.ones(S, B, 2), torch.zeros(S, B, dtype=torch.bool)
    dyn = SlotDynamics(num_slots=2, num_agents=2, num_actions=5, agent_slots=[0, 1], per_slot_linear=True)
    kept = fit_linear_motion(dyn, xy, seen, actions, done)  # action t − 1 changes the motion t − 1 → t
    assert 0.6 < kept < 0.95
    w = dyn.self_lin.weight.detach()  # [2, K·(2 + n) + K]: slot k's block is columns k·7 … k·7 + 6
    for k in range(2):
        block = w[:, 7 * k:7 * k + 7]
        torch.testing.assert_close(block[:, :2], -0.25 * torch.eye(2), atol=1e-3, rtol=0)  # damping
        torch.testing.assert_close(block[:, 2:], push[k] * table.T, atol=1e-3, rtol=0)  # push per action
    assert len(speed_limits(xy, seen, done)) == 2


@pytest.fixture(scope="module")
def pixel_recording(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("px") / "rec"
    assert main(["record", "tag", "--out", str(out), "--worlds", "8", "--steps", "60", "--seed", "1", "--frames",
                 "--set", "episode.max_steps=30", *COLORS, "--eager"]) == 0
    return out


@pytest.fixture(scope="module")
def small_model(pixel_recording, tmp_path_factory) -> Path:
    from engine.distill.common import TrainOptions
    from engine.distill.world_model import WorldModelOptions, distill_world_model

    out = tmp_path_factory.mktemp("wm") / "tag_world_model"
    wm = WorldModelOptions(horizon=3, decoder_iters=60, dynamics_iters=60)
    distill_world_model([pixel_recording], out, TrainOptions(logdir=None, seed=0), wm, {"adversary": 5, "prey": 5})
    return out


def test_a_short_distill_writes_three_contract_checked_onnx_models_equal_to_torch(small_model, pixel_recording):
    from engine.distill.vendoring import load_vendored
    from engine.learned.world_model import OnnxWorldModel
    from engine.record.format import Recording

    m = OnnxWorldModel(small_model, providers="cpu")
    assert m.providers == {k: "CPUExecutionProvider" for k in ("encoder", "latent_dynamics", "decoder")}
    assert (m.slots, m.latent_size, m.num_agents, m.num_actions) == (6, 24, 4, 5)
    frames = torch.from_numpy(Recording.open(pixel_recording).load(["frames"])["frames"][:2].swapaxes(0, 1).copy())
    action = torch.nn.functional.one_hot(torch.randint(0, 5, (8, 4)), 5).float()
    latent = m.encode(frames)
    frame = m.decode(m.step(latent, action))
    assert latent.shape == (8, 24) and frame.shape == (8, 64, 64, 3)
    enc, dyn, dec = (load_vendored(small_model / f"{k}.pt") for k in ("encoder", "latent_dynamics", "decoder"))
    with torch.no_grad():
        torch.testing.assert_close(latent, enc(frames), atol=1e-4, rtol=0)
        torch.testing.assert_close(frame, dec(dyn(latent, action)), atol=1e-4, rtol=0)
    readme = (small_model / "README.md").read_text()
    assert "latent_dynamics" in readme and "worldloom drift" in readme
    contract = json.loads((small_model / "latent_dynamics.json").read_text())
    assert contract["training"] == {"horizon": 3, "noise": 0.0, "trim": 0.1, "decoder_iters": 60, "dynamics_iters": 60}


def test_drift_scores_a_world_model_against_both_baselines(small_model, pixel_recording, tmp_path, capsys):
    out = tmp_path / "drift"
    assert main(["drift", "tag", "--world-model", str(small_model), "--data", str(pixel_recording),
                 "--horizon", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "psnr_copy_last" in printed and "CPUExecutionProvider" in printed
    s = json.loads((out / "pixel_drift.json").read_text())
    curves = s["models"][str(small_model)]
    assert len(curves["psnr"]) == 5 and s["windows"] > 0
    assert curves["psnr"][0] > curves["psnr_empty"][0]  # even 60 iterations beat the empty arena
    assert (out / "pixel_drift.png").stat().st_size > 1000


def test_bad_world_model_inputs_exit_2_with_one_message(small_model, pixel_recording, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(small_model, bad)
    c = json.loads((bad / "decoder.json").read_text())
    c["size"] = [32, 32]
    (bad / "decoder.json").write_text(json.dumps(c))
    cases = [
        ["drift", "tag", "--world-model", str(bad), "--data", str(pixel_recording)],  # contracts disagree
        ["drift", "tag", "--world-model", str(tmp_path / "none"), "--data", str(pixel_recording)],
        ["drift", "tag"],  # neither --plugin nor --world-model
        ["drift", "tag", "--world-model", str(small_model)],  # no --data
        ["distill", "tag", "--subsystem", "world-model", "--data", str(pixel_recording), "--noise", "-1"],
        ["distill", "tag", "--subsystem", "world-model", "--data", str(pixel_recording), "--lr", "0.1"],  # unused
        ["distill", "tag", "--subsystem", "world-model", "--data", str(pixel_recording), "--trim", "1"],
        ["distill", "tag", "--subsystem", "dynamics", "--data", str(pixel_recording), "--trim", "0.2"],  # unused
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "Traceback" not in err and "error:" in err, (argv, err)
    assert "differs from encoder.json" in (lambda: (main(cases[0]), capsys.readouterr().err)[1])()


def test_distill_refuses_a_recording_without_frames(tmp_path, capsys):
    rec = tmp_path / "noframes"
    assert main(["record", "tag", "--out", str(rec), "--worlds", "2", "--steps", "5", "--eager"]) == 0
    capsys.readouterr()
    assert main(["distill", "tag", "--subsystem", "world-model", "--data", str(rec), "--out", str(tmp_path / "o")]) == 2
    assert "record it with --frames" in capsys.readouterr().err


def test_the_shipped_tag_world_model_beats_copy_last_frame_on_fresh_episodes(tmp_path):
    """plugins/tag_world_model (tools/build_tag_world_model.sh) on episodes of a seed it never saw."""
    from engine.distill.pixel_metrics import open_loop_curves
    from engine.distill.world_model import load_pixel_data
    from engine.learned.world_model import OnnxWorldModel

    rec = tmp_path / "fresh"
    assert main(["record", "tag", "--out", str(rec), "--worlds", "8", "--steps", "60", "--seed", "77", "--frames",
                 "--set", "episode.max_steps=100", *COLORS, "--eager"]) == 0
    m = OnnxWorldModel(ROOT / "plugins" / "tag_world_model", providers="cpu")
    pix = load_pixel_data([rec], {"adversary": 5, "prey": 5})
    c = open_loop_curves(m, pix.frames, pix.actions, pix.done, 10, m.background, stride=4)
    psnr_model, copy = c.metrics["psnr"], c.metrics["psnr_copy_last"]
    assert psnr_model[0] > copy[0] + 3.0  # next frame
    assert psnr_model[9] > copy[9]  # 10 steps open loop


def test_record_films_world_zero_beside_the_shipped_dream(tmp_path, capsys):
    """``record --dream DIR --video F``: real | dream frames side by side, on the same actions, PSNR reported;
    the dream of the first steps is close to the real frame (it learned tag), later it may drift."""
    import imageio.v3 as iio

    from engine.record.dream import SCALE

    video = tmp_path / "dream.mp4"
    assert main(["record", "tag", "--dream", str(ROOT / "plugins" / "tag_world_model"), "--video", str(video),
                 "--steps", "30", "--seed", "3", "--eager", "--set", "episode.max_steps=100", *COLORS]) == 0
    out = capsys.readouterr().out
    assert "dream vs world 0, PSNR" in out
    step1 = float(out.split("step 1: ")[1].split(" dB")[0])
    assert step1 > 27.0
    frames = iio.imread(video)
    assert frames.shape[1:] == (64 * SCALE, 2 * 64 * SCALE + SCALE, 3) and len(frames) == 31
    for argv in (["record", "tag", "--dream", str(ROOT / "plugins" / "tag_world_model"), "--out", str(tmp_path / "r")],
                 ["record", "mpe/simple_spread", "--dream", str(ROOT / "plugins" / "tag_world_model"), "--video",
                  str(tmp_path / "x.mp4")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "--dream" in err, err

"""The inverse model from pixels and ``worldloom label``: its pieces against hand-made references, a short distill
end to end, the shipped model on fresh episodes, a video of play, and bad inputs."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli.main import main
from engine.distill.inverse import agent_slots, labelable, visible_free_below_max, windows
from engine.distill.modules import InverseDynamics
from engine.record.format import Recording

pytestmark = pytest.mark.filterwarnings("ignore:# The axis name")
ROOT = Path(__file__).resolve().parents[2]
WORLD = str(ROOT / "worlds" / "tag_dream.yaml")
SHIPPED = ROOT / "plugins" / "tag_inverse"


def disk(size: int, cx: float, cy: float, r: float, color, background=(1.0, 1.0, 1.0), ss: int = 16) -> np.ndarray:
    """A disk's exact coverage per pixel (16 × 16 samples), blended over the background, as uint8."""
    s = (np.arange(size * ss) + 0.5) / ss
    cover = ((s[None, :] - cx) ** 2 + (s[:, None] - cy) ** 2 <= r * r).reshape(size, ss, size, ss).mean((1, 3))
    img = np.asarray(background) * (1 - cover[..., None]) + np.asarray(color) * cover[..., None]
    return (img * 255).round().astype(np.uint8)


def test_tracks_find_a_disks_centre_to_a_twentieth_of_a_pixel() -> None:
    m = InverseDynamics([[0.85, 0.25, 0.25], [1.0, 1.0, 1.0]], agent_slots=[0], num_actions=5, size=(32, 32))
    centres = [(10.3, 20.7), (15.55, 4.9), (25.0, 25.25)]
    frames = torch.from_numpy(np.stack([disk(32, x, y, 2.4, (0.85, 0.25, 0.25)) for x, y in centres]))
    xy, seen = m.tracks(frames.view(1, 3, 32, 32, 3))
    np.testing.assert_allclose(xy[0, :, 0].numpy(), centres, atol=0.05)
    assert seen.all()
    empty = torch.full((1, 1, 32, 32, 3), 255, dtype=torch.uint8)
    xy, seen = m.tracks(empty)
    assert not seen.any() and float(xy.abs().sum()) == 0.0  # an unseen slot is at 0, flagged


def over(bottom: np.ndarray, top: np.ndarray, top_mask_color, background=(1.0, 1.0, 1.0)) -> np.ndarray:
    """``top`` drawn over ``bottom``: where ``top`` differs from the background it wins, blended by its coverage."""
    bg = np.asarray(background) * 255
    d = np.asarray(top_mask_color) * 255 - bg
    a = np.clip(((top.astype(float) - bg) * d).sum(-1) / (d * d).sum(), 0, 1)[..., None]
    return (bottom * (1 - a) + np.asarray(top_mask_color) * 255 * a).round().astype(np.uint8)


def test_tracks_place_a_disk_half_hidden_by_another_or_by_the_border() -> None:
    """Two overlapping disks (the blue one drawn over the red one) and a disk half off the image: the plain
    centroid of what shows is pulled away by ~0.5 px; with the disks' radii the tracker fills in what may be
    hidden and finds the centres to a twentieth of a pixel — the red disk's motion is what the action shows in."""
    red, blue = (0.85, 0.25, 0.25), (0.25, 0.25, 0.85)
    colors = [list(red), list(blue), [1.0, 1.0, 1.0]]
    cases = [((12.0, 16.0), (15.2, 16.5)), ((20.3, 9.6), (17.5, 11.0)), ((1.2, 20.0), (25.0, 25.0))]
    frames = torch.from_numpy(np.stack([over(disk(32, *r, 2.4, red), disk(32, *b, 2.4, blue), blue)
                                        for r, b in cases])).view(1, 3, 32, 32, 3)
    plain = InverseDynamics(colors, agent_slots=[0], num_actions=5, size=(32, 32))
    fill = InverseDynamics(colors, agent_slots=[0], num_actions=5, size=(32, 32), radius=[2.4, 2.4])
    truth = np.array([r for r, _ in cases])
    off = np.linalg.norm(plain.tracks(frames)[0][0, :, 0].numpy() - truth, axis=-1)
    xy, seen = fill.tracks(frames)
    assert seen.all() and (off > 0.4).all()  # the plain centroid is pulled off by what hides the disk
    np.testing.assert_allclose(xy[0, :, 0].numpy(), truth, atol=0.05)
    np.testing.assert_allclose(xy[0, :, 1].numpy(), [b for _, b in cases], atol=0.05)  # the top disk stays put


def test_overlap_push_points_from_the_other_disk_and_grows_with_the_overlap() -> None:
    m = InverseDynamics([[1, 0, 0], [0, 0, 1], [1, 1, 1]], agent_slots=[0], num_actions=5, size=(32, 32),
                        radius=[2.0, 3.0])
    xy = torch.zeros(3, 4, 2, 2)
    xy[:, :, 1] = torch.tensor([10.0, 10.0])
    xy[:, :, 0, 1] = 10.0
    xy[:, :, 0, 0] = torch.tensor([16.0, 11.0, 6.0]).view(3, 1)  # apart; 4 px deep on the right; 1 px on the left
    push = m.overlap_push(xy, torch.ones(3, 4, 2))  # [N, A, 6]: frames t, t + 1, t + 2
    np.testing.assert_allclose(push[:, 0, :2].numpy(), [[0.0, 0.0], [4.0, 0.0], [-1.0, 0.0]], atol=1e-5)
    unseen = torch.ones(3, 4, 2)
    unseen[:, :, 1] = 0
    assert float(m.overlap_push(xy, unseen).abs().sum()) == 0.0


def test_windows_repeat_an_episodes_first_frame_and_labelable_needs_two_more() -> None:
    frames = torch.arange(8).view(8, 1)  # frame t holds t; one world
    done = torch.zeros(8, 1, dtype=torch.bool)
    done[3] = True  # frames 0…3, then 4…7
    w = windows(frames, done, torch.tensor([4, 5, 0, 7]), torch.zeros(4, dtype=torch.long))
    assert w.tolist() == [[4, 4, 5, 6], [4, 5, 6, 7], [0, 0, 1, 2], [6, 7, 7, 7]]
    assert labelable(done)[:, 0].tolist() == [True, True, False, False, True, True, False, False]


def test_agent_slots_finds_which_colour_is_which_agent() -> None:
    """Synthetic tracks: agent a moves slot perm[a] with a damped velocity pushed by its action; the other slots
    drift at random. The least-squares probe must recover the permutation."""
    g = torch.Generator().manual_seed(0)
    S, B, K, A = 60, 8, 5, 3
    perm = [3, 0, 4]
    act = torch.randint(0, 5, (S, B, A), generator=g)
    push = torch.tensor([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    xy = torch.zeros(S, B, K, 2)
    vel = torch.zeros(B, K, 2)
    for t in range(S - 1):
        vel = 0.75 * vel + 0.3 * torch.randn(B, K, 2, generator=g)
        vel[:, perm] = 0.75 * vel[:, perm] + push[act[t]]  # tag: the action at t shows from frame t + 2 on
        xy[t + 1] = xy[t] + vel if t else xy[t]
    xy = xy.roll(1, 0)
    onehot = torch.nn.functional.one_hot(act, 5).float()
    done = torch.zeros(S, B, dtype=torch.bool)
    assert agent_slots(xy, torch.ones(S, B, K), onehot, done) == perm


def test_visible_free_below_max_excludes_contacts_edges_and_top_speed() -> None:
    S = 6
    pos = np.zeros((S, 1, 3, 2), np.float32)
    pos[:, 0, 0] = [-0.5, 0.0]
    pos[:, 0, 1] = [0.5, 0.0]
    pos[:, 0, 2] = [0.5, 0.05]  # touches entity 1
    vel = np.zeros((S, 1, 3, 2), np.float32)
    state = {"state.pos": pos, "state.vel": vel, "state.radius": np.full((S, 1, 3), 0.05, np.float32),
             "state.max_speed": np.ones((S, 1, 3), np.float32)}
    ok = visible_free_below_max(state, [0, 1], [-1, 1, -1, 1])
    assert ok[1:3, 0, 0].all() and not ok[:, 0, 1].any()  # entity 1 always touches entity 2
    vel[3, 0, 0] = [1.0, 0.0]  # at max speed after step 2
    pos[1, 0, 0] = [0.97, 0.0]  # its disk crosses the arena's edge in frame 1
    ok = visible_free_below_max(state, [0], [-1, 1, -1, 1])
    assert not ok[2, 0, 0] and not ok[1, 0, 0]  # t = 2: speed clipped at t + 1; t = 1: frame t has it at the edge


def record(tmp: Path, name: str, worlds: int, steps: int, seed: int, *extra: str) -> Path:
    out = tmp / name
    assert main(["record", WORLD, "--out", str(out), "--frames", "--worlds", str(worlds), "--steps", str(steps),
                 "--seed", str(seed), "--eager", *extra]) == 0
    return out


def test_shipped_inverse_model_labels_fresh_episodes(tmp_path, capsys) -> None:
    """On episodes it never saw: ≥ 95 % of the actions that can show (visible, no contact, below max speed), and
    ≥ 98 % of those of every agent inside the frame, collisions included (the model before disks were placed
    by their radius and overlaps read: 97 % on held-out tag); the labelled recording keeps the frames and
    trains like a recording (load_pixel_data reads it)."""
    from engine.distill.world_model import load_pixel_data

    rec = record(tmp_path, "rec", 4, 120, 31)
    capsys.readouterr()
    out = tmp_path / "labelled"
    assert main(["label", WORLD, "--inverse", str(SHIPPED), "--data", str(rec), "--out", str(out), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert facts["accuracy_visible_free"] >= 0.95, facts
    assert facts["visible_free_share"] > 0.2 and facts["episodes"] == 8
    pix = load_pixel_data([str(out)], {"adversary": 5, "prey": 5})
    st = Recording.open(rec).load(["state.pos", "state.radius", "action.adversary", "action.prey"])
    inside = (np.abs(st["state.pos"]) + st["state.radius"][..., None] < 1.0).all(-1)[..., :4]  # [S, B, A]
    shown = inside[:-3] & inside[1:-2] & inside[2:-1] & inside[3:] & ~pix.done[1:-2, :, None].numpy()
    true = np.concatenate([st["action.adversary"], st["action.prey"]], 2)[1:-2]
    right = (pix.actions.argmax(-1).numpy()[1:-2] == true)[shown]
    assert shown.sum() > 500 and right.mean() >= 0.98, (shown.sum(), right.mean())
    src = Recording.open(rec).load(["frames", "done"])
    assert torch.equal(pix.frames, torch.from_numpy(src["frames"]))
    # the last two steps of each episode have no label: their episode ends there
    assert bool((pix.done.numpy() >= src["done"]).all()) and int(pix.done.sum()) == 2 * int(src["done"].sum()) + 2 * 4
    assert main(["replay", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "labelled recording" in err, err


def test_label_a_video_of_play_and_find_its_episode_ends(tmp_path, capsys) -> None:
    """``record --video`` films world 0 after every step (512 × 512 H.264); labelling the video must agree with
    the recorded actions (video frame j is the recording's frame j + 1) and cut where the episode ended."""
    rec = tmp_path / "rec"
    video = tmp_path / "play.mp4"
    assert main(["record", WORLD, "--out", str(rec), "--frames", "--video", str(video), "--worlds", "1",
                 "--steps", "130", "--seed", "41", "--eager"]) == 0
    out = tmp_path / "labelled"
    assert main(["label", WORLD, "--inverse", str(SHIPPED), "--data", str(video), "--out", str(out)]) == 0
    lab = Recording.open(out).load(["action.adversary", "action.prey", "done"])
    true = Recording.open(rec).load(["action.adversary", "action.prey", "done"])
    pred = np.concatenate([lab["action.adversary"], lab["action.prey"]], 2)[:-1, 0]
    real = np.concatenate([true["action.adversary"], true["action.prey"]], 2)[1:, 0]
    from engine.distill.inverse import state_mask

    free = state_mask(rec, [-1, 1, -1, 1])[1:, 0].numpy() & ~lab["done"][:-1, 0, None]
    assert free.sum() > 100 and (pred == real)[free].mean() >= 0.95
    ends = np.flatnonzero(true["done"][1:, 0])  # in video frame numbers
    assert set(ends) <= set(np.flatnonzero(lab["done"][:, 0]))


def test_short_inverse_distill_exports_onnx_equal_to_torch(tmp_path, capsys) -> None:
    from engine.learned.inverse_model import OnnxInverseModel

    rec = record(tmp_path, "rec", 4, 60, 5)
    out = tmp_path / "inv"
    assert main(["distill", WORLD, "--subsystem", "inverse", "--data", str(rec), "--out", str(out),
                 "--iterations", "40", "--logdir", str(tmp_path / "runs")]) == 0
    c = json.loads((out / "inverse.json").read_text())
    assert c["kind"] == "inverse_dynamics" and c["export_max_abs_diff"] < 1e-4
    # the slot the probe gave each agent has that agent's colour (adversaries, then the prey: worlds/tag_dream.yaml)
    agents = [[0.85, 0.25, 0.25], [0.9, 0.6, 0.15], [0.65, 0.2, 0.7], [0.35, 0.85, 0.35]]
    np.testing.assert_allclose([c["colors"][k] for k in c["agent_slots"]], agents, atol=0.01)
    m = OnnxInverseModel(out, providers="cpu")
    frames = torch.from_numpy(Recording.open(rec).load(["frames"])["frames"][:4, 0])[None]
    logits, cut = m(frames)
    assert logits.shape == (1, 4, 5) and cut.shape == (1,)
    assert "label frames with it" in capsys.readouterr().out


@pytest.mark.parametrize("argv, expected", [
    (["--data", "no/such/thing"], "no such file or folder"),
    (["--data", str(ROOT / "README.md")], "expected a recording folder or a video"),
    (["--inverse", "no/such/model"], "no inverse.json"),
    (["--world", "tag"], "the model labels agents"),
])
def test_label_refuses_bad_input_with_one_line(tmp_path, capsys, argv, expected) -> None:
    args = {"--world": WORLD, "--inverse": str(SHIPPED), "--data": str(tmp_path), "--out": str(tmp_path / "o")}
    args.update(dict(zip(argv[::2], argv[1::2])))
    world = args.pop("--world")
    flat = [x for kv in args.items() for x in kv]
    if world == "tag":
        world = "mpe/simple_spread"
    assert main(["label", world, *flat]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expected in err and "Traceback" not in err, err
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_label_refuses_a_small_video_and_an_existing_output(tmp_path, capsys) -> None:
    import imageio.v3 as iio

    small = tmp_path / "small.mp4"
    iio.imwrite(small, np.full((6, 48, 48, 3), 255, np.uint8), fps=10)
    assert main(["label", WORLD, "--inverse", str(SHIPPED), "--data", str(small), "--out", str(tmp_path / "o")]) == 2
    assert "whole multiple" in capsys.readouterr().err
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "manifest.json").write_text("{}")
    assert main(["label", WORLD, "--inverse", str(SHIPPED), "--data", str(small), "--out", str(tmp_path / "o")]) == 2
    assert "already there" in capsys.readouterr().err
    assert (tmp_path / "o" / "manifest.json").read_text() == "{}"


def test_out_of_range_recorded_actions_and_broken_contracts_exit_2(tmp_path, capsys) -> None:
    """A recording whose actions lie outside the world's action space, and model folders whose contracts lie
    about their frame size: one line each, naming the file or the array, nothing written."""
    import shutil

    from engine.record.format import write_shard

    rec = record(tmp_path, "rec", 1, 12, 7)
    shard = sorted(rec.glob("shard-*.npz"))[0]
    with np.load(shard) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["action.prey"] = np.full_like(arrays["action.prey"], 7)
    write_shard(shard, arrays)
    capsys.readouterr()
    for argv in (["label", WORLD, "--inverse", str(SHIPPED), "--data", str(rec), "--out", str(tmp_path / "o")],
                 ["distill", WORLD, "--subsystem", "world-model", "--data", str(rec), "--out", str(tmp_path / "wm"),
                  "--iterations", "5"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "action.prey" in err and "outside 0..4" in err, err
    assert not (tmp_path / "o" / "manifest.json").exists() and not (tmp_path / "wm" / "encoder.onnx").exists()
    for src, stem in ((SHIPPED, "inverse"), (ROOT / "plugins" / "tag_world_model", "encoder")):
        bad = tmp_path / f"bad_{stem}"
        shutil.copytree(src, bad)
        c = json.loads((bad / f"{stem}.json").read_text())
        c["size"] = [64, "64"]
        (bad / f"{stem}.json").write_text(json.dumps(c))
        argv = (["label", WORLD, "--inverse", str(bad), "--data", str(rec), "--out", str(tmp_path / "o")]
                if stem == "inverse" else ["play", WORLD, "--headless", "--max-seconds", "1", "--dream", str(bad)])
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"{stem}.json: 'size': expected [width, height]" in err, err

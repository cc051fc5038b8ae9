"""HUD text and video files."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from engine.render import TextRenderer, VideoWriter


def test_text_changes_pixels_where_the_text_goes_and_nowhere_else(gl_ctx: object) -> None:
    fbo = gl_ctx.simple_framebuffer((160, 80))
    fbo.clear(0.5, 0.5, 0.5, 1.0)
    text = TextRenderer(gl_ctx)
    try:
        text.draw(fbo, ["fps 60", "worlds 256"], pos=(10, 20), color=(1, 1, 0, 1), background=(0, 0, 0, 0.5),
                  rows_top_first=True)
        image = np.frombuffer(fbo.read(components=3, alignment=1), np.uint8).reshape(80, 160, 3)
        box_w, box_h = text.measure(["fps 60", "worlds 256"])
        changed = (image != 128).any(-1)
        rows, cols = np.nonzero(changed)
        assert rows.min() == 20 and cols.min() == 10
        assert rows.max() == 20 + box_h - 1 and cols.max() == 10 + box_w - 1
        box = image[20:20 + box_h, 10:10 + box_w]
        assert ((box[..., 0] > 200) & (box[..., 2] < 100)).sum() > 30  # yellow glyph pixels
        assert (box == [64, 64, 64]).all(-1).sum() > box_h * box_w // 2  # translucent black box
    finally:
        text.release()
        fbo.release()


def _frames(n: int) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        f = np.zeros((33, 47, 3), np.uint8)  # odd size: the mp4 path pads to even
        f[:, : 4 + 4 * i] = (255, 128, 0)
        frames.append(f)
    return frames


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_video_writer_writes_a_file_that_decodes_to_the_frames(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"clip{suffix}"
    with VideoWriter(path, fps=10) as video:
        for frame in _frames(6):
            video.append(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # temp file replaced atomically
    decoded = [np.asarray(f) for f in imageio.mimread(path)]
    assert len(decoded) == 6
    assert decoded[0].shape[:2] in ((33, 47), (34, 48))
    assert any(not np.array_equal(decoded[0], f) for f in decoded[1:])


def test_video_writer_leaves_no_file_when_recording_fails(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError, match="simulated"):
        with VideoWriter(path, fps=10) as video:
            video.append(_frames(1)[0])
            raise RuntimeError("simulated crash")
    assert list(tmp_path.iterdir()) == []

"""Write rendered frames to a video file, atomically.

The file appears under its final name only when it is complete: frames go to a temporary file in the
same folder (same filesystem, so ``os.replace`` is atomic) that replaces the target on ``close()``.
An interrupted recording leaves no half-written video behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


class VideoWriter:
    """Collect ``[H, W, 3]`` uint8 frames into an ``.mp4`` (H.264 via imageio-ffmpeg) or ``.gif`` (PIL).

    Odd image sizes are padded by one edge pixel for H.264, which needs even sizes. Use it as a
    context manager: leaving the block normally publishes the file, an exception discards it.

    >>> import tempfile
    >>> import numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "clip.mp4"
    >>> with VideoWriter(path, fps=10) as video:
    ...     for i in range(3):
    ...         video.append(np.full((32, 32, 3), 80 * i, np.uint8))
    >>> video.frames, path.is_file()
    (3, True)
    """

    def __init__(self, path: str | os.PathLike[str], fps: float = 30.0) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        if self.fps <= 0:
            raise ValueError(f"VideoWriter fps must be > 0, got {fps}")
        suffix = self.path.suffix.lower()
        if suffix not in (".mp4", ".gif"):
            raise ValueError(f"VideoWriter: unsupported extension {self.path.suffix!r} for {self.path}; "
                             "use .mp4 (H.264 via imageio-ffmpeg) or .gif")
        self.frames = 0
        self._gif = suffix == ".gif"
        self._gif_frames: list[np.ndarray] = []
        self._size: tuple[int, int] | None = None
        self._writer: Any = None
        self._tmp: Path | None = None  # created by the first append, in the target's folder
        self._closed = False

    def append(self, frame: np.ndarray) -> None:
        """Add one ``[H, W, 3]`` uint8 frame (all frames must have the first frame's size)."""
        if self._closed:
            raise RuntimeError(f"VideoWriter for {self.path} is closed")
        image = np.asarray(frame)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"VideoWriter.append: expected [H, W, 3] uint8, got {image.dtype} "
                             f"{list(image.shape)}")
        if self._size is None:
            self._size = image.shape[:2]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".partial{self.path.suffix}",
                                       dir=self.path.parent)
            os.close(fd)
            self._tmp = Path(tmp)
        elif image.shape[:2] != self._size:
            raise ValueError(f"VideoWriter.append: frame size {image.shape[:2]} differs from the first "
                             f"frame's {self._size}")
        if self._gif:
            self._gif_frames.append(image.copy())
        else:
            if self._writer is None:
                self._writer = _open_mp4(self._tmp, self.fps)
            pad_h, pad_w = image.shape[0] % 2, image.shape[1] % 2
            if pad_h or pad_w:
                image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            self._writer.append_data(image)
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it to ``path``; returns ``path``. Closing twice is harmless."""
        if self._closed:
            return self.path
        if self.frames == 0:
            self.abort()
            raise ValueError(f"VideoWriter: no frames were appended, {self.path} not written")
        try:
            if self._gif:
                from PIL import Image

                images = [Image.fromarray(f) for f in self._gif_frames]
                images[0].save(self._tmp, format="GIF", save_all=True, append_images=images[1:],
                               duration=max(1, round(1000 / self.fps)), loop=0)
                self._gif_frames.clear()
            else:
                self._writer.close()
                self._writer = None
            from engine.fileio import publish

            publish(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._tmp = None
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Discard the recording: close the encoder and delete the temporary file."""
        self._closed = True
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        self._gif_frames.clear()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _open_mp4(path: Path, fps: float) -> Any:
    try:
        import imageio.v2 as imageio
    except ImportError as exc:
        raise RuntimeError("writing .mp4 needs imageio and imageio-ffmpeg (`pip install imageio "
                           "imageio-ffmpeg`), or write a .gif instead") from exc
    # macro_block_size=1: frames are already padded to even sizes, so imageio must not rescale them.
    return imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                              pixelformat="yuv420p", macro_block_size=1, quality=8)

"""Learning curves as PNG with Pillow (no matplotlib): ``python -m engine.train.plot metrics.csv out.png``.

Pillow is already a dependency (rendering uses it), and a line chart with axes, ticks and a title is
all the training docs need.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
from collections.abc import Sequence

from engine.errors import UserError


def read_columns(csv_path: str | os.PathLike, x: str, ys: Sequence[str]) -> tuple[list[float], dict[str, list[float]]]:
    """Columns of a ``metrics.csv`` (rows where a value is missing are skipped for that column)."""
    try:
        with open(csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise UserError(f"cannot read {csv_path}: {e}") from None
    if not rows:
        raise UserError(f"{csv_path}: no rows")
    for c in (x, *ys):
        if c not in rows[0]:
            raise UserError(f"{csv_path}: no column {c!r}; it has: {', '.join(rows[0])}")
    xs = [float(r[x]) for r in rows]
    return xs, {y: [float(r[y]) if r[y] not in ("", None) else math.nan for r in rows] for y in ys}


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:.3g}"


def plot_png(xs: Sequence[float], series: dict[str, Sequence[float]], path: str | os.PathLike, *,
             title: str = "", xlabel: str = "", ylabel: str = "", size: tuple[int, int] = (800, 450),
             hlines: dict[str, float] | None = None) -> None:
    """Draw ``series`` (name → y values over ``xs``) as lines, ``hlines`` (label → y) as grey reference
    lines, and write the PNG atomically."""
    from PIL import Image, ImageDraw, ImageFont

    from engine.fileio import atomic_write_bytes

    W, H = size
    left, right, top, bottom = 90, 20, 40, 60
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=14)
    hlines = dict(hlines or {})
    vals = [v for ys in series.values() for v in ys if not math.isnan(v)] + list(hlines.values())
    if not xs or not vals:
        raise UserError("nothing to plot: no values")
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(vals), max(vals)
    pad = (y1 - y0) * 0.05 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (W - left - right),
                H - bottom - (y - y0) / (y1 - y0) * (H - top - bottom))

    for t in _nice_ticks(y0, y1):
        _, y = px(x0, t)
        d.line([(left, y), (W - right, y)], fill=(230, 230, 230))
        d.text((left - 8, y), _fmt(t), fill="black", font=font, anchor="rm")
    for t in _nice_ticks(x0, x1):
        x, _ = px(t, y0)
        d.line([(x, top), (x, H - bottom)], fill=(230, 230, 230))
        d.text((x, H - bottom + 8), _fmt(t), fill="black", font=font, anchor="mt")
    d.rectangle([left, top, W - right, H - bottom], outline="black")
    for label, yv in hlines.items():
        _, y = px(x0, yv)
        for xa in range(left, W - right, 12):  # dashed
            d.line([(xa, y), (min(xa + 6, W - right), y)], fill=(120, 120, 120), width=1)
        d.text((W - right - 6, y - 3), label, fill=(90, 90, 90), font=font, anchor="rb")
    colors = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
    for i, (name, ys) in enumerate(series.items()):
        pts = [px(x, y) for x, y in zip(xs, ys) if not math.isnan(y)]
        c = colors[i % len(colors)]
        if len(pts) > 1:
            d.line(pts, fill=c, width=2)
        d.text((left + 10, top + 8 + 18 * i), name.removeprefix("metric."), fill=c, font=font)
    d.text((W / 2, 12), title, fill="black", font=font, anchor="mt")
    d.text((W / 2, H - 20), xlabel, fill="black", font=font, anchor="mt")
    label = Image.new("RGB", (H - top - bottom, 18), "white")
    ImageDraw.Draw(label).text(((H - top - bottom) / 2, 9), ylabel, fill="black", font=font, anchor="mm")
    img.paste(label.rotate(90, expand=True), (8, top))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.train.plot", description=__doc__.splitlines()[0])
    p.add_argument("csv", help="metrics.csv written by worldloom train")
    p.add_argument("png", help="output PNG")
    p.add_argument("--x", default="global_step", help="x column (default global_step)")
    p.add_argument("--y", action="append", required=True, help="y column(s); repeatable")
    p.add_argument("--title", default="")
    p.add_argument("--ylabel", default="")
    p.add_argument("--hline", action="append", default=[], metavar="LABEL=Y", help="reference line; repeatable")
    args = p.parse_args(argv)
    xs, ys = read_columns(args.csv, args.x, args.y)
    hlines = {}
    for item in args.hline:
        label, sep, value = item.rpartition("=")
        try:
            hlines[(label if sep else value).strip()] = float(value)
        except ValueError:
            raise UserError(f"--hline: expected LABEL=Y with a number Y, got {item!r}") from None
    plot_png(xs, ys, args.png, title=args.title, xlabel=f"{args.x} (ticks x worlds)" if args.x == "global_step"
             else args.x, ylabel=args.ylabel, hlines=hlines)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Placement (``entities.<type>.place``): spawn positions redrawn until the disk is clear of walls and of
the entities already placed, at every episode start.

The entities with ``place`` are placed one after the other in entity order (each must see where the
earlier ones landed), every world and every try at once: ``tries`` candidate positions are drawn from
the type's ``spawn.pos`` rule, the first clear one wins. When none is clear the entity keeps its first
draw and the world counts it (``info["events"]["placement_failed"]``): a long training run is never
stopped by one unlucky reset. A layout that can never fit — no world of a trial batch places some
entity — is refused when the world loads.
"""

from __future__ import annotations

import torch

FAILED = "placement.failed"
TRIAL_WORLDS = 64
MAX_PLACED = 1024


def _overlaps_walls(cand: torch.Tensor, r: torch.Tensor, seg: torch.Tensor | None, boxes: torch.Tensor | None
                    ) -> torch.Tensor:
    """``cand [B, T, 2]``, ``r [B, 1]`` → ``[B, T]``: the disk touches a wall segment or its centre is in a box."""
    hit = torch.zeros(cand.shape[:2], dtype=torch.bool, device=cand.device)
    if seg is not None:
        a, e = seg[:, :2], seg[:, 2:] - seg[:, :2]
        rel = cand.unsqueeze(-2) - a  # [B, T, W, 2]
        s = ((rel * e).sum(-1) / (e * e).sum(-1).clamp_min(1e-12)).clamp(0, 1)
        d = (rel - s.unsqueeze(-1) * e).norm(dim=-1).amin(-1)
        hit = hit | (d < r)
    if boxes is not None:
        x, y = cand[..., 0:1], cand[..., 1:2]
        hit = hit | ((x > boxes[:, 0]) & (x < boxes[:, 2]) & (y > boxes[:, 1]) & (y < boxes[:, 3])).any(-1)
    return hit


def make_placement(app, spawn_plans: list):
    """The reset hook that places the entities with ``place:`` (None when no type has it)."""
    from engine.core.state import StateDecl

    spec, layout = app.loaded.spec, app.layout
    placed = [(t, et.place) for t, et in spec.entities.items() if et.place is not None]
    if not placed:
        return None
    pos_plan = next((sp for sp in spawn_plans if sp.component == "pos"), None)
    for t, _ in placed:
        if pos_plan is None or not bool((pos_plan.kind[layout.types[t].sl] >= 2).all()):
            raise app.ctx.error(("entities", t, "place"), "place redraws the spawn position: expected a random "
                                                         f"spawn.pos for {t!r} (uniform or normal), got none")
    has_place = torch.zeros(layout.n, dtype=torch.bool)
    for t, _ in placed:
        has_place[layout.types[t].sl] = True
    segments = spec.walls.segment_list()
    seg = torch.tensor(segments, dtype=app.dtype, device=app.device) if segments else None
    boxes_l = spec.walls.all_boxes()
    boxes = torch.tensor(boxes_l, dtype=app.dtype, device=app.device) if boxes_l else None
    total = sum(layout.types[t].capacity for t, _ in placed)
    if total > MAX_PLACED:
        t = placed[0][0]
        raise app.ctx.error(("entities", t, "place"), f"expected at most {MAX_PLACED:,} entities placed one at a time "
                                                      f"(agents and objects), got {total:,} over the types with "
                                                      "place:; spawn crowds without place (contacts spread them)")
    order = []  # (entity index, tries, gap, walls?, avoided entities [K], of which final before i [K] by i)
    for t, pl in placed:
        path = ("entities", t, "place")
        for name in pl.avoid:
            if name != "walls" and name not in layout.types:
                raise app.ctx.error(path + ("avoid",), app.lookup(layout.types, name, "entity type") + ", or walls")
        types = [n for n in pl.avoid if n != "walls"]
        others = layout.indices(types) if types else torch.zeros(0, dtype=torch.int64)
        app.reserve(pl.tries * max(len(others), 1) * 4 * app.float_size, f"placing {t!r} ({pl.tries} tries × "
                    f"{len(others):,} entities to avoid)", path, "avoid fewer entity types or lower tries")
        others_placed = has_place[others].to(app.device)
        others = others.to(app.device)
        for i in range(layout.types[t].start, layout.types[t].stop):
            order.append((i, pl.tries, float(pl.gap), "walls" in pl.avoid, others, others_placed))
    app.add_state(StateDecl(FAILED, "world", (), "int64", 0, owner="placement", record=True,
                            event="placement_failed", doc="entities that found no clear place at the episode start"))
    a, b, kind = pos_plan.a, pos_plan.b, pos_plan.kind

    def place(fresh: dict, B: int, generator) -> None:
        pos = fresh["pos"].clone()
        radius = fresh["radius"] if "radius" in fresh else app.state.default("radius").unsqueeze(0).expand(B, -1)
        failed = torch.zeros(B, dtype=torch.int64, device=pos.device)
        place.nowhere = []  # entities no world could place this time (check_fits names them)
        for i, tries, gap, walls, avoid, avoid_placed in order:
            others = avoid[(avoid != i) & ((avoid < i) | ~avoid_placed)]  # already where they will stay
            u = torch.rand((B, tries, 2), generator=generator, device=pos.device, dtype=pos.dtype)
            cand = a[i] + (b[i] - a[i]) * u if int(kind[i]) == 2 else a[i] + b[i] * torch.randn(
                (B, tries, 2), generator=generator, device=pos.device, dtype=pos.dtype)
            cand[:, 0] = pos[:, i]  # the first try is the ordinary spawn draw
            r = radius[:, i:i + 1] + gap  # [B, 1]
            bad = _overlaps_walls(cand, r, seg, boxes) if walls else torch.zeros(cand.shape[:2], dtype=torch.bool,
                                                                                  device=pos.device)
            if len(others):
                d = (cand.unsqueeze(2) - pos[:, others].unsqueeze(1)).norm(dim=-1)  # [B, T, K]
                bad = bad | (d < r.unsqueeze(-1) + radius[:, others].unsqueeze(1)).any(-1)
            ok = ~bad
            first = ok.to(torch.int8).argmax(1)  # the first clear try (0 when none)
            choice = cand.gather(1, first.view(B, 1, 1).expand(B, 1, 2)).squeeze(1)
            pos[:, i] = choice
            failed = failed + (~ok.any(1)).to(torch.int64)
            if not bool(ok.any()):
                place.nowhere.append(i)
        fresh["pos"] = pos
        fresh[FAILED] = failed

    return place


def check_fits(app, hook, spawn_plans: list) -> None:
    """Refuse at load a layout that can never fit: place a trial batch of worlds; an entity that no world
    could place clear (in any of its tries) is a located error."""
    from engine.systems.spawn import draw_spawn

    gen = torch.Generator(device=app.device)
    gen.manual_seed(0)
    fresh = draw_spawn(spawn_plans, TRIAL_WORLDS, gen)
    hook(fresh, TRIAL_WORLDS, gen)
    if hook.nowhere:
        i = hook.nowhere[0]
        t = next(t for t, et in app.layout.types.items() if et.start <= i < et.stop)
        raise app.ctx.error(("entities", t, "place"), f"{t} {i - app.layout.types[t].start} found no clear place in "
                                                      f"any of {TRIAL_WORLDS} trial layouts × its tries: widen its "
                                                      "spawn region, lower the counts or radii, or raise tries")

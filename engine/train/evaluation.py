"""Run whole episodes with chosen controllers and summarise returns and contacts per episode.

This is the measuring stick for trained NPCs: the same seeds, the same number of episodes, and only the
controllers differ between rows of a comparison.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.train.controllers import make_controller
from engine.train.metrics import short_name, with_contact_probe


@dataclass
class EvalResult:
    """Per-episode returns (mean over a group's agents) and contact counts, in the order episodes ended.

    Example:
        >>> r = evaluate("tag", {"prey": "scripted_flee:adversary"}, episodes=64)
        >>> print(r.table())
    """

    controllers: dict[str, str]
    returns: dict[str, list[float]] = field(default_factory=dict)
    contacts: dict[str, list[float]] = field(default_factory=dict)
    events: dict[str, list[float]] = field(default_factory=dict)  # rule firings (and other events) per episode
    winners: list[str] = field(default_factory=list)  # per episode: the winning team, "draw" or "none"

    @staticmethod
    def _mean_std(xs: list[float]) -> tuple[float, float]:
        if not xs:
            return float("nan"), float("nan")
        m = sum(xs) / len(xs)
        return m, math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"episodes": len(next(iter(self.returns.values()), [])),
                               "controllers": dict(self.controllers)}
        for g, xs in self.returns.items():
            out[f"return/{g}"] = self._mean_std(xs)
        for k, xs in self.contacts.items():
            out[short_name(k)] = self._mean_std(xs)
        for k, xs in self.events.items():
            out[f"events/{k}"] = self._mean_std(xs)
        if self.winners:
            for team in sorted(set(self.winners)):
                out[f"wins/{team}"] = self.winners.count(team) / len(self.winners)
        return out

    def table(self) -> str:
        """A Markdown table: one row per group (mean ± std episode return), then contacts per episode."""
        s = self.summary()
        rows = ["| group | controller | mean episode return ± std |", "|---|---|---:|"]
        for g in self.returns:
            m, sd = s[f"return/{g}"]
            rows.append(f"| {g} | {self.controllers.get(g, '?')} | {m:.3f} ± {sd:.3f} |")
        for k in self.contacts:
            m, sd = s[short_name(k)]
            rows.append(f"| {short_name(k)} per episode | | {m:.3f} ± {sd:.3f} |")
        for k in self.events:
            m, sd = s[f"events/{k}"]
            rows.append(f"| {k} per episode | | {m:.3f} ± {sd:.3f} |")
        for k in (k for k in s if k.startswith("wins/")):
            rows.append(f"| episodes won by {k[5:]} | | {100 * s[k]:.1f} % |")
        return "\n".join(rows) + f"\n\n({s['episodes']} episodes)"


@torch.no_grad()
def evaluate(world: str | os.PathLike, controllers: Mapping[str, str] | None = None, *, episodes: int = 100,
             worlds: int = 64, seed: int = 0, overrides: Mapping[str, Any] | None = None, device: str = "cpu",
             compile: bool = False, threads: int | str | None = "auto", deterministic: bool = True) -> EvalResult:
    """Run ``episodes`` episodes (``worlds`` at a time) with a controller per external group.

    ``controllers`` maps group → SPEC (``engine.train.controllers``); external groups not named act
    randomly; groups controlled in the world file keep their controller (named as such in the result).
    """
    import engine

    controllers = dict(controllers or {})
    ov, keys = with_contact_probe(world, overrides)
    sim = engine.make(world, num_worlds=worlds, device=device, seed=seed, overrides=ov, compile=compile,
                      threads=threads)
    gen = torch.Generator(device=sim.device)
    gen.manual_seed(seed + 1)
    ctrls = {g: make_controller(spec, sim, g, generator=gen, deterministic=deterministic)
             for g, spec in controllers.items()}
    for g in sim.external_groups:
        if g not in ctrls:
            controllers[g] = "random"
            ctrls[g] = make_controller("random", sim, g, generator=gen)
    shown = {g: controllers.get(g, f"{sim.controlled_by.get(g, '?')} (world file)") for g in sim.groups}
    result = EvalResult(shown, {g: [] for g in sim.groups}, {k: [] for k in keys})
    acc = {k: torch.zeros(worlds, device=sim.device) for k in keys}
    sim.reset(seed=seed)
    done_count = 0
    limit = sim.plan.spec.episode.max_steps * (math.ceil(episodes / worlds) + 1) + 10
    for _ in range(limit):
        if done_count >= episodes:
            break
        _, _, _, _, info = sim.step({g: c(sim) for g, c in ctrls.items()})
        for k in keys:
            acc[k] += sim.state[k]
        if "episode_return" in info:
            done = info["done"]
            idx = done.nonzero().squeeze(-1)
            for g in sim.groups:
                result.returns[g] += info["episode_return"][g][idx].to(torch.float32).mean(1).tolist()
            for k in keys:
                result.contacts[k] += acc[k][idx].tolist()
                acc[k][idx] = 0.0
            for k, v in info.get("events", {}).items():
                result.events.setdefault(k, []).extend(v[idx].to(torch.float32).tolist())
            if "rules.winner" in info.get("final_state", {}):
                teams = list(sim.groups)
                for w, ended in zip(info["final_state"]["rules.winner"][idx].tolist(),
                                    info["final_state"]["rules.ended"][idx].tolist()
                                    if "rules.ended" in info["final_state"] else [True] * idx.numel()):
                    result.winners.append(teams[w] if w >= 0 else ("draw" if ended else "none"))
            done_count += idx.numel()
    for d in (result.returns, result.contacts, result.events):
        for k in d:
            d[k] = d[k][:episodes]
    result.winners = result.winners[:episodes]
    return result

"""The play window's text: the HUD (what a player needs to read at a glance) and the help overlay."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.render.window import monotonic

from .panels import describe_psnr

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from .loop import Player

HELP = [
    "Arrows / WASD: move the controlled agent (render.controls)",
    "TAB: control the next agent of the external groups",
    "P: pause   N: single step while paused   R: reset",
    "L: learned <-> hand-coded subsystems",
    "F5: snapshot   F9: restore   F6: reload world + shaders",
    "F12: screenshot (PNG)   V: start/stop video",
    "G: re-anchor the dream   X: hide/show the real side (--dream)",
    "Mouse wheel: zoom   left drag: pan",
    "H: close this help   Esc: quit",
]


def hud_lines(player: Player) -> list[str]:
    """The HUD's text: world, FPS, tick, who is controlled, returns, plugins, drift, PSNR, recording, messages."""
    sim = player.sim
    tick = int(sim.state["tick"][0])
    state = "PAUSED (N: step)" if player.paused else f"{player.tick_rate:g} ticks/s"
    lines = [f"{player.name}  FPS {player.fps:5.1f}  tick {tick}  {state}"]
    ctl = player.controlled
    lines.append(f"controlling {ctl[0]}_{ctl[1]} (TAB: next)" if ctl else "spectating (no external agents)")
    lines.append("return " + "  ".join(_return_text(g, player.returns[g], player.last_returns.get(g))
                                       for g in sim.groups))
    if sim.plugins:
        parts = [f"{name}[{host.kind}]: {'learned' if host.enabled else 'hand-coded'}"
                 for name, host in sim.plugins.items()]
        lines.append("plugins " + "  ".join(parts) + "  (L: flip)")
    drift = {k: v for k, v in player.metrics.items() if "drift" in k}
    if drift:
        lines.append("drift " + "  ".join(f"{k} {v:.4f}" for k, v in drift.items()))
    if player.renderer_plugin is not None:
        lines.append(f"learned renderer {player.renderer_plugin}: PSNR {describe_psnr(player.panel.psnr)} (right)")
    if getattr(player, "dream", None) is not None:
        d = player.dream
        side = "alone (X: show real)" if player.real_hidden else "right (X: hide real)"
        lines.append(f"dream {side}: PSNR {describe_psnr(d.psnr)} vs real, {d.since} steps since re-anchor (G)")
    events = [(k[7:], int(v[0])) for k, v in sim.state.items() if k.startswith("events.")]
    if events:  # the rules' firings this episode, world 0 (docs/world-format.md#rules)
        lines.append("events " + "  ".join(f"{k} {n}" for k, n in events if n) if any(n for _, n in events)
                     else "events: none yet this episode")
    variables = variable_text(sim)
    if variables:
        lines.append(variables)
    acts = {n for g in sim.groups.values() for n in g.action_space.named}  # a grid agent's left/right are actions
    named = {k: v for k, v in player.controls.keys.items() if k in acts or k not in ("up", "down", "left", "right")}
    if named:
        lines.append("actions " + "  ".join(f"{k}: {'/'.join(v)}" for k, v in named.items()))
    if getattr(player, "turn_based", False):
        lines.append("turn-based: one tick per action key; the agent's view bottom-right")
    if player.video.recording:
        lines.append(f"REC {player.video.frames} frames -> {player.video.path}")
    if player.message and monotonic() < player.message_until:
        lines.append(player.message)
    lines.append("H: help")
    return lines


def variable_text(sim) -> str:
    """``"score red 1 blue 0  captures_to_win 2"``: the world's variables in world 0 (team ones per team)."""
    parts = []
    for key, value in sim.state.items():
        if not key.startswith("var."):
            continue
        v = value[0]
        if v.dim() == 0:
            parts.append(f"{key[4:]} {_number(v)}")
        else:  # a team variable: one value per agent group, in agents: order
            parts.append(f"{key[4:]} " + " ".join(f"{g} {_number(x)}" for g, x in zip(sim.groups, v)))
    return "vars " + "  ".join(parts) if parts else ""


def _number(v) -> str:
    return f"{float(v):.2f}" if v.is_floating_point() else str(int(v))


def _return_text(group: str, current: float, last: float | None) -> str:
    """``"prey +0.50 (last -1.25)"``: the episode's return so far, per agent, and the previous episode's."""
    return f"{group} {current:+.2f}" + (f" (last {last:+.2f})" if last is not None else "")


def draw_hud(player: Player, screen: moderngl.Framebuffer, vp: tuple[int, int, int, int]) -> None:
    """Draw the HUD (top-left), the help box (centred) when asked, and name the tick in the window title."""
    text = player.text
    text.draw(screen, hud_lines(player), pos=(6, 6), viewport=vp)
    if player.help:
        box_w, box_h = text.measure(HELP)
        x = max((vp[2] - box_w) // 2, 0)
        y = max((vp[3] - box_h) // 2, 0)
        text.draw(screen, HELP, pos=(x, y), viewport=vp, background=(0.0, 0.0, 0.0, 0.8))
    player.window.set_title(f"worldloom play: {player.name} (tick {int(player.sim.state['tick'][0])})")

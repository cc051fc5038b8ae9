"""NAVIX DoorKey-8x8 on the CPU (needs the navix venv from setup.sh: jax[cpu] + navix).

Env: nx.make("Navix-DoorKey-8x8-v0", max_steps=--max-steps, observation_fn=...).
Observation: --observation symbolic_first_person (default) = MiniGrid's 7x7x3 egocentric
(object, colour, state) view, agent at the bottom centre facing up. NOTE: navix's *registered*
default is observations.symbolic, the fully observable 8x8x3 grid; we pass the first-person one
explicitly. navix's first-person view has no occlusion mask (MiniGrid hides cells behind walls).
Episode length: navix's nx.make defaults to max_steps=100; we pass --max-steps (default 640, MiniGrid's
10*8*8) so the episode length matches minigrid/xland-minigrid.
Actions: uniform random in [0, len(env.action_set)) = navix's MINIGRID_ACTION_SET (7 actions, MiniGrid
indices: left, right, forward, pickup, drop, toggle, done), drawn inside the jitted step.
Autoreset: built into navix's Environment.step: a step taken on a timestep whose step_type is
TRUNCATION/TERMINATION returns env.reset(...) instead (the action is ignored: "next-step" autoreset,
like gymnasium's NEXT_STEP). Under vmap its lax.cond becomes a select, so every step computes both the
transition and a reset.
Batching: jax.vmap over --num-envs worlds; --mode scan (default) fuses --scan-len (100) steps into one
jitted jax.lax.scan call; --mode loop calls one jitted vmapped step per Python call.
The whole Timestep (observation included) is carried and returned, and every step's observation,
reward and step_type are reduced into a checksum that is returned too, so XLA cannot drop them;
block_until_ready on the result. Episode ends (step_type > 0) and restarts (t == 0 after a step) are
counted inside the scan and reported ("episodes_ended", "resets_seen") to show that autoreset happens.
"""

import sys
import time
from importlib.metadata import version

import jax
import jax.numpy as jnp
import navix as nx
from harness import base_parser, run_windows

ENV_ID = "Navix-DoorKey-8x8-v0"
OBS_FNS = {
    "symbolic_first_person": nx.observations.symbolic_first_person,  # 7x7x3, MiniGrid's default
    "symbolic": nx.observations.symbolic,  # navix's registered default: full 8x8x3 grid
}


def main():
    p = base_parser(__doc__, default_num_envs=4096)
    p.add_argument("--mode", choices=["scan", "loop"], default="scan")
    p.add_argument("--scan-len", type=int, default=100)
    p.add_argument("--observation", choices=sorted(OBS_FNS), default="symbolic_first_person")
    args = p.parse_args()
    N = args.num_envs

    env = nx.make(ENV_ID, max_steps=args.max_steps, observation_fn=OBS_FNS[args.observation])
    n_actions = len(env.action_set)

    def one_step(carry, _):
        key, ts, ends, resets, chk = carry
        key, k_act = jax.random.split(key)
        actions = jax.random.randint(k_act, (N,), 0, n_actions)
        ts = jax.vmap(env.step)(ts, actions)
        done = ts.step_type > 0
        ends = ends + done.sum(dtype=jnp.int32)
        resets = resets + (ts.t == 0).sum(dtype=jnp.int32)
        chk = chk + ts.observation.sum(dtype=jnp.int32).astype(jnp.float32) + ts.reward.sum() + ts.step_type.sum()
        return (key, ts, ends, resets, chk), None

    key = jax.random.PRNGKey(args.seed)
    key, kr = jax.random.split(key)
    ts0 = jax.jit(jax.vmap(env.reset))(jax.random.split(kr, N))
    obs_shape = tuple(ts0.observation.shape[1:])
    zero_i, zero_f = jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32)
    if args.mode == "scan":
        step_fn = jax.jit(lambda c: jax.lax.scan(one_step, c, None, length=args.scan_len)[0])
        calls_per_chunk = args.scan_len
    else:
        step_fn = jax.jit(lambda c: one_step(c, None)[0])
        calls_per_chunk = max(1, min(100, 4096 // N))
    box = {"c": (key, ts0, zero_i, zero_i, zero_f), "calls": 0}
    t0 = time.perf_counter()
    jax.block_until_ready(step_fn(box["c"]))  # compile (result discarded)
    compile_s = time.perf_counter() - t0

    def chunk():
        c = box["c"]
        for _ in range(1 if args.mode == "scan" else calls_per_chunk):
            c = step_fn(c)
        jax.block_until_ready(c)
        box["c"] = c
        box["calls"] += calls_per_chunk
        return calls_per_chunk

    def finish():
        _, ts, ends, resets, chk = box["c"]
        out = {
            "episodes_ended": int(ends),
            "resets_seen": int(resets),
            "steps_per_env_total": box["calls"],
            "checksum": float(chk),
            "episode_t_max_now": int(ts.t.max()),
        }
        print(
            f"# navix autoreset check: {out['episodes_ended']} episode ends, {out['resets_seen']} restarts "
            f"over {box['calls']} steps x {N} envs (max_steps {args.max_steps})",
            file=sys.stderr,
        )
        return out

    label = f"navix {ENV_ID} cpu num_envs={N} obs={args.observation}{obs_shape} mode={args.mode}"
    run_windows(
        chunk,
        N,
        args,
        label,
        finish=finish,
        extra={
            "peer": "navix",
            "env": ENV_ID,
            "navix": version("navix"),
            "jax": jax.__version__,
            "jaxlib": version("jaxlib"),
            "flax": version("flax"),
            "backend": jax.default_backend(),
            "mode": args.mode,
            "scan_len": args.scan_len if args.mode == "scan" else None,
            "compile_s": compile_s,
            "observation": args.observation,
            "obs_shape": list(obs_shape),
            "obs_dtype": str(ts0.observation.dtype),
            "n_actions": n_actions,
            "actions": f"uniform random randint [0,{n_actions}) per env, MiniGrid indices",
            "autoreset": "navix built-in, next-step (step after a done returns reset; its action ignored)",
        },
    )


if __name__ == "__main__":
    main()

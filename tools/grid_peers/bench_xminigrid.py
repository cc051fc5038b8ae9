"""XLand-MiniGrid DoorKey-8x8 on the CPU (needs the xminigrid venv from setup.sh: jax[cpu] + xminigrid).

Env: env, params = xminigrid.make("MiniGrid-DoorKey-8x8"), wrapped in xminigrid.wrappers.GymAutoResetWrapper
(gymnasium-style SAME-step autoreset: the step that ends an episode returns the reset state and the
reset's first observation, with the ending step's reward and step_type LAST).
Observation: xland-minigrid's default, the 7x7 egocentric view (params.view_size=7) of shape 7x7x2
(tile id, colour id) in uint8: xland-minigrid has no third "state" channel (door states are separate
tile ids) and its default view is see-through (transparent_field_of_view, no occlusion mask).
Episode length: params.max_steps = 10*8*8 = 640 (MiniGrid's formula, xminigrid's default); --max-steps
overrides it (default 640, so nothing changes).
Actions: uniform random in [0, env.num_actions(params)) = 6 for xland-minigrid (its own order: forward,
right, left, pickup, put down, toggle; there is no "done" action), drawn inside the jitted step.
Batching: jax.vmap over --num-envs worlds; --mode scan (default) fuses --scan-len (100) steps into one
jitted jax.lax.scan call; --mode loop calls one jitted vmapped step per Python call.
The whole TimeStep (observation included) is carried and returned, and every step's observation,
reward and step_type are reduced into a checksum that is returned too, so XLA cannot drop them;
block_until_ready on the result. Episode ends (step_type LAST) and restarts (state.step_num == 0 after
a step) are counted inside the scan and reported ("episodes_ended", "resets_seen").
"""

import sys
import time
from importlib.metadata import version

import jax
import jax.numpy as jnp
import xminigrid
from harness import base_parser, run_windows
from xminigrid.wrappers import GymAutoResetWrapper

ENV_ID = "MiniGrid-DoorKey-8x8"


def main():
    p = base_parser(__doc__, default_num_envs=4096)
    p.add_argument("--mode", choices=["scan", "loop"], default="scan")
    p.add_argument("--scan-len", type=int, default=100)
    args = p.parse_args()
    N = args.num_envs

    env, params = xminigrid.make(ENV_ID)
    default_max_steps = params.max_steps
    params = params.replace(max_steps=args.max_steps)
    env = GymAutoResetWrapper(env)
    n_actions = env.num_actions(params)

    def one_step(carry, _):
        key, ts, ends, resets, chk = carry
        key, k_act = jax.random.split(key)
        actions = jax.random.randint(k_act, (N,), 0, n_actions)
        ts = jax.vmap(env.step, in_axes=(None, 0, 0))(params, ts, actions)
        ends = ends + ts.last().sum(dtype=jnp.int32)
        resets = resets + (ts.state.step_num == 0).sum(dtype=jnp.int32)
        chk = chk + ts.observation.sum(dtype=jnp.int32).astype(jnp.float32) + ts.reward.sum() + ts.step_type.sum()
        return (key, ts, ends, resets, chk), None

    key = jax.random.PRNGKey(args.seed)
    key, kr = jax.random.split(key)
    ts0 = jax.jit(jax.vmap(env.reset, in_axes=(None, 0)))(params, jax.random.split(kr, N))
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
            "episode_t_max_now": int(ts.state.step_num.max()),
        }
        print(
            f"# xminigrid autoreset check: {out['episodes_ended']} episode ends, {out['resets_seen']} restarts "
            f"over {box['calls']} steps x {N} envs (max_steps {params.max_steps})",
            file=sys.stderr,
        )
        return out

    label = f"xminigrid {ENV_ID} cpu num_envs={N} obs={obs_shape} mode={args.mode}"
    run_windows(
        chunk,
        N,
        args,
        label,
        finish=finish,
        extra={
            "peer": "xminigrid",
            "env": ENV_ID,
            "xminigrid": version("xminigrid"),
            "jax": jax.__version__,
            "jaxlib": version("jaxlib"),
            "flax": version("flax"),
            "backend": jax.default_backend(),
            "mode": args.mode,
            "scan_len": args.scan_len if args.mode == "scan" else None,
            "compile_s": compile_s,
            "observation": "default 7x7 egocentric (tile, colour), see-through",
            "obs_shape": list(obs_shape),
            "obs_dtype": str(ts0.observation.dtype),
            "n_actions": n_actions,
            "default_max_steps": default_max_steps,
            "actions": f"uniform random randint [0,{n_actions}) per env, xland-minigrid's own action order",
            "autoreset": "GymAutoResetWrapper, same-step (ending step returns the reset state/obs)",
        },
    )


if __name__ == "__main__":
    main()

"""The JAX peers' shared driver: random actions drawn inside the jitted step, ``--scan-len`` steps fused
in one ``jax.lax.scan`` call (``--mode scan``) or one jitted call a step (``--mode loop``), episode ends
and restarts counted inside, and a checksum of observation, reward and step type carried along so XLA
cannot drop them. Compile time is measured apart from the windows (``compile_s``)."""

import sys
import time
from importlib.metadata import version

import jax
import jax.numpy as jnp
from harness import run_windows


def add_options(p):
    p.add_argument("--mode", choices=["scan", "loop"], default="scan")
    p.add_argument("--scan-len", type=int, default=100)


def run(peer, label, args, n_actions, step, ts0, t_max, max_steps, extra):
    """Time ``step(ts, actions) -> (ts, ended [N], restarted [N])`` over ``args.num_envs`` worlds from ``ts0``;
    ``t_max(ts)`` is the largest episode step now (a sanity figure); ``extra`` joins the JSON line."""
    N = args.num_envs

    def one_step(carry, _):
        key, ts, ends, resets, chk = carry
        key, k_act = jax.random.split(key)
        ts, ended, restarted = step(ts, jax.random.randint(k_act, (N,), 0, n_actions))
        ends = ends + ended.sum(dtype=jnp.int32)
        resets = resets + restarted.sum(dtype=jnp.int32)
        chk = chk + ts.observation.sum(dtype=jnp.int32).astype(jnp.float32) + ts.reward.sum() + ts.step_type.sum()
        return (key, ts, ends, resets, chk), None

    zero_i, zero_f = jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32)
    if args.mode == "scan":
        step_fn = jax.jit(lambda c: jax.lax.scan(one_step, c, None, length=args.scan_len)[0])
        calls_per_chunk = args.scan_len
    else:
        step_fn = jax.jit(lambda c: one_step(c, None)[0])
        calls_per_chunk = max(1, min(100, 4096 // N))
    box = {"c": (jax.random.PRNGKey(args.seed + 1), ts0, zero_i, zero_i, zero_f), "calls": 0}
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
        out = {"episodes_ended": int(ends), "resets_seen": int(resets), "steps_per_env_total": box["calls"],
               "checksum": float(chk), "episode_t_max_now": int(t_max(ts))}
        print(f"# {peer} autoreset check: {out['episodes_ended']} episode ends, {out['resets_seen']} restarts "
              f"over {box['calls']} steps x {N} envs (max_steps {max_steps})", file=sys.stderr)
        return out

    obs_shape = tuple(ts0.observation.shape[1:])
    run_windows(chunk, N, args, f"{label} obs={obs_shape} mode={args.mode}", finish=finish, extra={
        "peer": peer, "jax": jax.__version__, "jaxlib": version("jaxlib"), "flax": version("flax"),
        "backend": jax.default_backend(), "mode": args.mode,
        "scan_len": args.scan_len if args.mode == "scan" else None, "compile_s": compile_s,
        "obs_shape": list(obs_shape), "obs_dtype": str(ts0.observation.dtype), "n_actions": n_actions,
        **extra})

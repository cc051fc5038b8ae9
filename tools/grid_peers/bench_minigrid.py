"""MiniGrid (Farama `minigrid` package, gymnasium, pure Python/numpy) DoorKey-8x8 on the CPU.

Runs in the repo's venv (.venv has minigrid + gymnasium) or the fallback venv setup.sh makes.
--num-envs 1: env = gym.make("MiniGrid-DoorKey-8x8-v0"); a loop of env.step(random action), with
  env.reset() called when terminated or truncated (that reset is inside the timed loop but does not count
  as a step).
--num-envs N>1: gymnasium.vector.SyncVectorEnv of N such envs with its default autoreset mode
  (NEXT_STEP in gymnasium 1.x: the step after an episode ends resets that env, ignores its action, and
  counts as a step); random actions for all N envs per call.
Observation: MiniGrid's default dict {"image": 7x7x3 uint8 egocentric (object, colour, state) view with
occlusion (see_through_walls=False), "direction", "mission"}; the vector env stacks them into arrays.
Episode length: DoorKey's own max_steps = 10*8*8 = 640; --max-steps (default 640) is passed to
gym.make(..., max_steps=...) only when it differs.
Actions: uniform random in [0, action_space.n) = 7 (MiniGrid's actions: left, right, forward, pickup,
drop, toggle, done), drawn from a numpy Generator in blocks outside the env.
Episode ends (terminated | truncated) are counted and reported ("episodes_ended") to show resets happen.
"""

import sys
from importlib.metadata import version

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid-* ids)
import numpy as np
from harness import base_parser, run_windows

ENV_ID = "MiniGrid-DoorKey-8x8-v0"
DEFAULT_MAX_STEPS = 640


def make_env(args):
    kw = {} if args.max_steps == DEFAULT_MAX_STEPS else {"max_steps": args.max_steps}
    return gym.make(ENV_ID, **kw)


def main():
    p = base_parser(__doc__, default_num_envs=1)
    p.add_argument(
        "--chunk",
        type=int,
        default=0,
        help="batched step calls between clock reads (default: 1000 // num_envs, at least 1)",
    )
    args = p.parse_args()
    N = args.num_envs
    rng = np.random.default_rng(args.seed)
    stats = {"ends": 0, "calls": 0}
    calls_per_chunk = args.chunk or max(1, 1000 // N)

    if N == 1:
        env = make_env(args)
        env.reset(seed=args.seed)
        env.action_space.seed(args.seed)
        n_actions = int(env.action_space.n)
        obs_shape = list(env.observation_space["image"].shape)
        step = env.step
        reset = env.reset
        desc = str(env)

        def chunk():
            acts = rng.integers(0, n_actions, size=calls_per_chunk).tolist()
            ends = 0
            for a in acts:
                obs, rew, term, trunc, info = step(a)
                if term or trunc:
                    reset()
                    ends += 1
            stats["ends"] += ends
            stats["calls"] += calls_per_chunk
            return calls_per_chunk

        autoreset = "manual env.reset() when terminated or truncated (not counted as a step)"
    else:
        env = gym.vector.SyncVectorEnv([lambda: make_env(args) for _ in range(N)])
        env.reset(seed=args.seed)
        n_actions = int(env.single_action_space.n)
        obs_shape = list(env.single_observation_space["image"].shape)
        step = env.step
        desc = f"SyncVectorEnv({N} x {env.envs[0]})"
        mode = getattr(env, "autoreset_mode", None)
        autoreset = f"SyncVectorEnv default autoreset ({getattr(mode, 'name', mode)})"

        def chunk():
            acts = rng.integers(0, n_actions, size=(calls_per_chunk, N))
            ends = 0
            for i in range(calls_per_chunk):
                obs, rew, term, trunc, info = step(acts[i])
                ends += int(np.count_nonzero(term | trunc))
            stats["ends"] += ends
            stats["calls"] += calls_per_chunk
            return calls_per_chunk

    def finish():
        out = {"episodes_ended": stats["ends"], "steps_per_env_total": stats["calls"]}
        print(
            f"# minigrid reset check: {stats['ends']} episode ends over {stats['calls']} steps x {N} envs "
            f"(max_steps {args.max_steps})",
            file=sys.stderr,
        )
        return out

    label = f"minigrid {ENV_ID} num_envs={N} " + ("gym.make" if N == 1 else "SyncVectorEnv")
    run_windows(
        chunk,
        N,
        args,
        label,
        finish=finish,
        extra={
            "peer": "minigrid",
            "env": ENV_ID,
            "minigrid": version("minigrid"),
            "gymnasium": gym.__version__,
            "numpy": np.__version__,
            "vectorized": "none (gym.make)" if N == 1 else "gymnasium.vector.SyncVectorEnv",
            "env_repr": desc,
            "obs_shape": obs_shape,
            "observation": "default dict; image 7x7x3 egocentric, occluded",
            "n_actions": n_actions,
            "actions": f"uniform random [0,{n_actions}) numpy Generator, MiniGrid indices",
            "autoreset": autoreset,
            "calls_per_chunk": calls_per_chunk,
        },
    )


if __name__ == "__main__":
    main()

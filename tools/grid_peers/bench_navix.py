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

from importlib.metadata import version

import jax
import jax_loop
import navix as nx
from harness import base_parser

ENV_ID = "Navix-DoorKey-8x8-v0"
OBS_FNS = {
    "symbolic_first_person": nx.observations.symbolic_first_person,  # 7x7x3, MiniGrid's default
    "symbolic": nx.observations.symbolic,  # navix's registered default: full 8x8x3 grid
}


def main():
    p = base_parser(__doc__, default_num_envs=4096)
    jax_loop.add_options(p)
    p.add_argument("--observation", choices=sorted(OBS_FNS), default="symbolic_first_person")
    args = p.parse_args()
    env = nx.make(ENV_ID, max_steps=args.max_steps, observation_fn=OBS_FNS[args.observation])
    n_actions = len(env.action_set)

    def step(ts, actions):
        ts = jax.vmap(env.step)(ts, actions)
        return ts, ts.step_type > 0, ts.t == 0

    kr = jax.random.split(jax.random.PRNGKey(args.seed))[1]
    ts0 = jax.jit(jax.vmap(env.reset))(jax.random.split(kr, args.num_envs))
    jax_loop.run("navix", f"navix {ENV_ID} cpu num_envs={args.num_envs} view={args.observation}", args, n_actions,
                 step, ts0, lambda ts: ts.t.max(), args.max_steps, {
                     "env": ENV_ID, "navix": version("navix"), "observation": args.observation,
                     "actions": f"uniform random randint [0,{n_actions}) per env, MiniGrid indices",
                     "autoreset": "navix built-in, next-step (step after a done returns reset; its action ignored)"})


if __name__ == "__main__":
    main()

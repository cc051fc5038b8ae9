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

from importlib.metadata import version

import jax
import jax_loop
import xminigrid
from harness import base_parser
from xminigrid.wrappers import GymAutoResetWrapper

ENV_ID = "MiniGrid-DoorKey-8x8"


def main():
    p = base_parser(__doc__, default_num_envs=4096)
    jax_loop.add_options(p)
    args = p.parse_args()
    env, params = xminigrid.make(ENV_ID)
    default_max_steps = params.max_steps
    params = params.replace(max_steps=args.max_steps)
    env = GymAutoResetWrapper(env)
    n_actions = env.num_actions(params)

    def step(ts, actions):
        ts = jax.vmap(env.step, in_axes=(None, 0, 0))(params, ts, actions)
        return ts, ts.last(), ts.state.step_num == 0

    kr = jax.random.split(jax.random.PRNGKey(args.seed))[1]
    ts0 = jax.jit(jax.vmap(env.reset, in_axes=(None, 0)))(params, jax.random.split(kr, args.num_envs))
    jax_loop.run("xminigrid", f"xminigrid {ENV_ID} cpu num_envs={args.num_envs}", args, n_actions, step, ts0,
                 lambda ts: ts.state.step_num.max(), params.max_steps, {
                     "env": ENV_ID, "xminigrid": version("xminigrid"),
                     "observation": "default 7x7 egocentric (tile, colour), see-through",
                     "default_max_steps": default_max_steps,
                     "actions": f"uniform random randint [0,{n_actions}) per env, xland-minigrid's own action order",
                     "autoreset": "GymAutoResetWrapper, same-step (ending step returns the reset state/obs)"})


if __name__ == "__main__":
    main()

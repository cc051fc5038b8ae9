"""Grid worlds (MiniGrid-style): cells, facing directions and the egocentric view, batched."""

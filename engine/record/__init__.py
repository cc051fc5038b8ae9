"""Recording and replay of Sim transitions: the data side of the world-model loop.

``Recorder`` writes transitions (state, actions, next state, observations, rewards, frames) into
compressed shards with a manifest (layout in ``engine.record.format``); ``Recording`` reads them;
``replay`` re-simulates a recording bit for bit, or counterfactually in another world.

Example:
    >>> from engine.record import Recording, replay
    >>> report = replay("runs/rec")          # the recorded world: exact reproduction check
    >>> report.ok
    True
"""

from engine.record.format import FORMAT_VERSION, MANIFEST, Recording, sha256_file
from engine.record.recorder import Recorder, transition
from engine.record.replay import ReplayReport, replay

__all__ = ["FORMAT_VERSION", "MANIFEST", "Recorder", "Recording", "ReplayReport", "replay", "sha256_file",
           "transition"]

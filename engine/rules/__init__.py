"""Game rules as data: variables, ``when`` → ``do`` rules, events, named-action masks (docs/world-format.md#rules).

- :mod:`~engine.rules.context`: what a rule is built against (subjects, objects, teams, references);
- :mod:`~engine.rules.conditions`: ``when:`` items → boolean tensors over ``[B, S, O]``;
- :mod:`~engine.rules.effects`: ``do:`` items → state updates over the matches;
- :mod:`~engine.rules.system`: the ``rules`` system, its state and its place in the tick.
"""

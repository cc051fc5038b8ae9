"""The core: declared state, declared systems, the app that collects them, and the runner.

Layers (no import goes upward): ``engine.world`` (YAML → validated spec, no torch state) →
``engine.core`` (state, systems, schedule, random numbers, code resolver) → built-ins and learned
plugins → ``engine.views`` (state → frames) → apps (play, record, train, CLI). ``engine.render``
draws plain arrays and imports none of them.
"""

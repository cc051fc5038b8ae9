"""Views of a simulation: the glue above both :mod:`engine.sim` and :mod:`engine.render`.

:mod:`engine.render` draws plain arrays and knows nothing of a Sim; the simulation knows nothing of
OpenGL. This package joins them:

- :mod:`engine.views.sim_view`: :class:`~engine.views.sim_view.SimView`, a Sim's state → images
  (``sim.render``, recordings, the play window).
- :mod:`engine.views.pixels`: the ``pixels`` observation term
  (:class:`~engine.views.pixels.PixelParams`, :class:`~engine.views.pixels.PixelObserver`).
- :mod:`engine.views.play`: the interactive player behind ``worldloom play``.

Importing this package imports none of them (and so no GL, torch or world code).
"""

"""The runnable examples in public docstrings stay true."""

import doctest
import importlib

import pytest

MODULES = ["engine.sim", "engine.errors", "engine.world.loader", "engine.world.yamlio", "engine.core.state",
           "engine.core.random", "engine.core.resolver", "engine.core.actions", "engine.extend",
           "engine.learned.model", "engine.learned.planning", "engine.learned.runner", "engine.views.play.input",
           "engine.views.sim_view", "engine.render.frame", "engine.interop.mpe2"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

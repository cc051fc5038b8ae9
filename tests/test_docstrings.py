"""The runnable examples in public docstrings stay true."""

import doctest
import importlib

import pytest

MODULES = ["engine.sim", "engine.errors", "engine.world.loader", "engine.world.yamlio"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

"""The runnable examples in the training and env-adapter docstrings stay true."""

import doctest
import importlib

import pytest

MODULES = ["engine.pettingzoo", "engine.vector", "engine.train.config", "engine.train.policy",
           "engine.train.controllers", "engine.train.state"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

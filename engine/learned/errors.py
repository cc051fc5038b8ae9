"""Errors raised by the learned-plugin host.

They are user errors (a model that does not fit the world, a provider that is not there, a model that
produced NaN): each carries the plugin's name and the facts a CLI needs to print one clear line
instead of a traceback.
"""

from __future__ import annotations

from engine.errors import UserError


class LearnedPluginError(UserError):
    """Base class of every error about a learned plugin; `.plugin` names it."""

    def __init__(self, message: str, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


class ContractError(LearnedPluginError):
    """A model's inputs/outputs do not match what the world binds to them.

    Attributes: `plugin`, `tensor` (the input/output name), `kind` ("input" or "output"), `expected`
    and `actual` (short human-readable descriptions, e.g. ``float32 [batch, 14]``), `where`
    (``file:line:col`` of the plugin entry, when known) and `others` (further problems found in the
    same check; the message lists them too).

    Example:
        >>> err = ContractError("plugin 'p': input 'obs': ...", plugin="p", tensor="obs",
        ...                     expected="float32 [batch, 14]", actual="float32 [batch, 16]")
        >>> err.tensor
        'obs'
    """

    def __init__(
        self,
        message: str,
        *,
        plugin: str,
        tensor: str,
        expected: str,
        actual: str,
        kind: str = "input",
        where: str | None = None,
    ) -> None:
        super().__init__(message, plugin)
        self.tensor = tensor
        self.expected = expected
        self.actual = actual
        self.kind = kind
        self.where = where
        self.others: list[ContractError] = []


class ProviderUnavailableError(LearnedPluginError):
    """An execution provider was asked for explicitly (e.g. ``cuda``) and cannot run here."""


class NonFiniteOutputError(LearnedPluginError):
    """A model produced NaN/Inf and the plugin's guard mode is ``raise``.

    Attributes: `plugin`, `output` (the first offending output) and `count` (its non-finite values
    in this call); `counts` has every output's count for the call.
    """

    def __init__(self, message: str, *, plugin: str, output: str, count: int, counts: dict[str, int]) -> None:
        super().__init__(message, plugin)
        self.output = output
        self.count = count
        self.counts = counts


class ExportError(LearnedPluginError):
    """Exporting a torch module to ONNX failed, or the exported model disagrees with the module."""


class ModelLoadError(LearnedPluginError):
    """An ONNX model file is missing, unreadable or rejected by ONNX Runtime."""

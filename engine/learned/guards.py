"""Guards against non-finite (NaN/Inf) outputs of learned models.

A learned dynamics model that emits one NaN poisons the world state for good, so every output is
checked after every call, with whole-tensor ops. What happens next is the plugin's choice:
``raise`` stops with an error naming the plugin, output and count; ``zero`` replaces the bad values by
0 in place; ``fallback`` tells the caller which world rows must use the hand-coded result this tick.
Running counts are kept as tensors on the outputs' device (no host sync per tick except in
``raise`` mode) and read by `info`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch

from .errors import NonFiniteOutputError

GuardMode = Literal["raise", "fallback", "zero"]
_MODES = ("raise", "fallback", "zero")


class NanGuard:
    """Counts and handles NaN/Inf in a plugin's outputs, per the plugin's guard mode.

    `check(outputs)` returns None in ``raise`` and ``zero`` modes; in ``fallback`` mode it returns a
    bool tensor of the rows (or, with ``num_worlds``, the worlds) that had any non-finite value in
    any output: use the hand-coded result there (``torch.where(mask[:, None], hand, learned)``). The
    learned outputs themselves are left untouched in ``fallback`` mode.

    Example:
        >>> guard = NanGuard("zero", plugin="learned_physics")
        >>> out = {"delta": torch.tensor([[1.0, float("nan")], [0.5, 0.5]])}
        >>> guard.check(out)
        >>> out["delta"]
        tensor([[1.0000, 0.0000],
                [0.5000, 0.5000]])
        >>> guard.info["nonfinite"]
        {'delta': 1}
    """

    def __init__(self, mode: GuardMode = "raise", plugin: str = "plugin") -> None:
        if mode not in _MODES:
            raise ValueError(f"plugin '{plugin}': guard mode must be one of {list(_MODES)}, got {mode!r}")
        self.mode = mode
        self.plugin = plugin
        self.checks = 0
        self._nonfinite: dict[str, torch.Tensor] = {}  # output -> running count of bad values
        self._bad_rows: torch.Tensor | None = None  # running count of rows flagged for fallback
        self._bad_checks: torch.Tensor | None = None  # running count of checks that found anything

    def check(
        self, outputs: Mapping[str, torch.Tensor], num_worlds: int | None = None
    ) -> torch.Tensor | None:
        """Count non-finite values in every floating output and handle them per `mode`.

        `num_worlds` (fallback mode): the rows are ``num_worlds`` equal groups (the gathered entities
        of each world); the mask then has one entry per world instead of one per row.
        """
        self.checks += 1
        bad_masks: dict[str, torch.Tensor] = {}
        counts: dict[str, torch.Tensor] = {}
        for name, tensor in outputs.items():
            if not (tensor.is_floating_point() or tensor.is_complex()):
                continue  # integers and bools are always finite
            bad = ~torch.isfinite(tensor)
            bad_masks[name] = bad
            counts[name] = bad.sum()
        if not counts:
            return None
        stacked = torch.stack(list(counts.values()))
        self._accumulate(counts, stacked)

        if self.mode == "raise":
            found = dict(zip(counts, stacked.tolist(), strict=True))  # the one host sync of this mode
            offenders = {name: n for name, n in found.items() if n}
            if offenders:
                name, count = next(iter(offenders.items()))
                shape = list(outputs[name].shape)
                others = "".join(f", '{o}' has {n}" for o, n in list(offenders.items())[1:])
                raise NonFiniteOutputError(
                    f"plugin '{self.plugin}': output '{name}' has {count} non-finite (NaN/Inf) value(s) "
                    f"of {outputs[name].numel()} {shape}{others}; set the plugin's guard to 'fallback' "
                    "or 'zero' to keep running",
                    plugin=self.plugin,
                    output=name,
                    count=count,
                    counts=found,
                )
            return None
        if self.mode == "zero":
            for name, bad in bad_masks.items():
                outputs[name].masked_fill_(bad, 0)
            return None

        rows: torch.Tensor | None = None
        for bad in bad_masks.values():
            per_row = bad.reshape(bad.shape[0] if bad.dim() else 1, -1).any(dim=1)
            rows = per_row if rows is None else rows | per_row
        assert rows is not None
        if num_worlds is not None:
            if rows.numel() % num_worlds:
                raise ValueError(
                    f"plugin '{self.plugin}': {rows.numel()} output rows do not split into "
                    f"{num_worlds} worlds"
                )
            rows = rows.reshape(num_worlds, -1).any(dim=1)
        self._bad_rows = rows.sum() if self._bad_rows is None else self._bad_rows + rows.sum()
        return rows

    def _accumulate(self, counts: dict[str, torch.Tensor], stacked: torch.Tensor) -> None:
        for name, count in counts.items():
            previous = self._nonfinite.get(name)
            self._nonfinite[name] = count if previous is None else previous + count
        found = (stacked.sum() > 0).to(torch.int64)
        self._bad_checks = found if self._bad_checks is None else self._bad_checks + found

    @property
    def info(self) -> dict[str, object]:
        """Running totals since creation or `reset`: mode, checks, checks that found any non-finite
        value, non-finite values per output, and (fallback) rows/worlds handed to the hand-coded system.
        """
        return {
            "mode": self.mode,
            "checks": self.checks,
            "checks_with_nonfinite": 0 if self._bad_checks is None else int(self._bad_checks),
            "nonfinite": {name: int(count) for name, count in self._nonfinite.items()},
            "fallback_rows": 0 if self._bad_rows is None else int(self._bad_rows),
        }

    def reset(self) -> None:
        """Forget the running counts (e.g. at the start of an evaluation)."""
        self.checks = 0
        self._nonfinite.clear()
        self._bad_rows = None
        self._bad_checks = None

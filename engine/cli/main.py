"""``worldloom`` — the command line: one subcommand per module in ``engine/cli``.

User errors (bad world files, bad overrides, bad arguments, exceptions raised by the user's own
code) print one clear message and exit with status 2; anything else is a bug in worldloom: a short
report and exit status 3. ``--traceback`` prints the full traceback in both cases.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback

from engine.errors import UserError

#: subcommand → module in engine.cli that defines ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = {
    "validate": "validate", "run": "run", "bench": "bench", "doctor": "doctor", "schema": "schema",
    "play": "play", "record": "record", "replay": "replay", "train": "train", "eval": "evaluate",
    "distill": "distill", "drift": "drift", "label": "label",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="worldloom",
        description="Batched ECS worlds in YAML, learned subsystems through ONNX Runtime, play and train.")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, print the full Python traceback (for bug reports and debugging user code)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for _name, module in COMMANDS.items():
        try:
            mod = importlib.import_module(f"engine.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"engine.cli.{module}":
                raise
            continue
        mod.add_parser(sub)
    return parser


def _version() -> str:
    from engine import __version__

    return f"worldloom {__version__}"


@contextlib.contextmanager
def _trust(args: argparse.Namespace):
    """``--trust X`` is ``WORLDLOOM_TRUST=X`` for this command (and only this one): every world it loads,
    and every process it starts, sees the policy."""
    from engine.core.resolver import ENV_VAR

    extra = [os.path.abspath(t) if os.path.exists(t) else t for t in (getattr(args, "trust", None) or [])]
    before = os.environ.get(ENV_VAR)
    if extra:
        os.environ[ENV_VAR] = os.pathsep.join([t for t in (before or "").split(os.pathsep) if t] + extra)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _trust(args):
            return int(args.func(args) or 0)
    except UserError as e:
        if args.traceback:
            traceback.print_exc()
        print(f"worldloom {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug in worldloom, not in the user's input
        if args.traceback:
            traceback.print_exc()
        where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        at = f" at {where.filename}:{where.lineno}" if where else ""
        print(f"worldloom {args.command}: internal error (a bug in worldloom): {type(e).__name__}: {e}{at}\n"
              f"  please report it with the output of: worldloom --traceback {args.command} ...", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())

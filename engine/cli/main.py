"""``worldloom`` — the command line: one subcommand per module in ``engine/cli``.

User errors (bad world files, bad overrides, bad arguments) print one clear message and exit with
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from engine.errors import UserError

#: subcommand → module in engine.cli that defines ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = {
    "validate": "validate", "run": "run", "bench": "bench", "doctor": "doctor", "schema": "schema",
    "play": "play", "record": "record", "replay": "replay", "train": "train", "eval": "evaluate",
    "distill": "distill", "drift": "drift",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="worldloom",
        description="Batched ECS worlds in YAML, learned subsystems through ONNX Runtime, play and train.")
    parser.add_argument("--version", action="version", version=_version())
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"worldloom {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

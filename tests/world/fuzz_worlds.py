"""A small seeded mutation fuzzer for world files (a helper of ``test_hostile_worlds.py``, not a test).

``mutations(text, rng, n)`` returns ``n`` mutated copies of a world file: flipped characters (control
characters, bytes that are not UTF-8), deleted/duplicated/swapped lines, swapped values, huge and
non-finite numbers, deep nesting, random keys, type changes, duplicated list items, zero counts,
other dotted paths. ``run_case`` loads a mutated world with ``engine.make(path, num_worlds=2)`` and
steps it 3 times; the only acceptable exceptions are ``engine.errors.UserError``s.

Run as a script it fuzzes every world of ``worlds/`` in a copy of the folder (so that modules and
models beside the worlds resolve), under a memory limit, and prints a JSON report::

    python tests/world/fuzz_worlds.py --seed 0 --cases 300 --memory-gib 4

Mutated text is a ``str``; bytes that are not UTF-8 are carried as surrogate escapes
(``"\\udcff"`` is the byte 0xff): write it with ``encode_case``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NUMBERS = ["1.0e+39", "-1.0e+39", "3.0e+38", "1.797e+308", "1.0e+999", ".inf", "-.inf", ".nan", ".NaN", "0",
           "-1", "0.0", "-0.0", "1.0e-45", "1.0e-300", "65536", "65537", "70000", "4194304", "2147483648",
           "9223372036854775808", "-9223372036854775809", "1" + "0" * 30, "1" + "0" * 4299, "1" + "0" * 5000,
           "0x7fffffff", "0o777", "0b101", "1_000", "190:20:30", "2024-13-45", "2001-12-14", "1e39", "12.5",
           "100000", "1000000000", "1000000001"]
VALUES = ["[]", "{}", "null", "~", "true", "false", "'text'", '"x\\x01y"', "[1, 2]", "[[1, 2], [3]]", "{a: 1}",
          "[a, b]", "!!binary aGVsbG8=", "!!float x", "!!int 1.5", "!!int", "!foo bar", "&a 1", "*a", "*nope",
          "!!set {a, b}", "!!omap [a: 1]", "!!timestamp 2024-02-30", "!!python/object:os.system x", "[-1]",
          "[0]", "[0, 0]", "[65536, 65536]", "[1, 1, 1, 1, 1]", "[4096, 4096]", "[1, .nan]", "[.inf, 1]",
          "[1.0e+39, 2]", "'" + "a" * 5000 + "'", "[" + ", ".join(["1"] * 2000) + "]", "{" + "}", "[", "'",
          "discrete", "continuous", "min", "sum", "float64", "int64", "bool", "wrap", "bounce", "raise", "zero",
          "fallback", "policy", "dynamics", "renderer", "world", "entity", "all_agents_dead", "never"]
DOTTED = ["os.system", "sys.exit", "builtins.eval", "subprocess.run", "stamina.nope", "nope.tire",
          "engine.sim.make", "engine.systems.physics.make_physics", "engine.nope.x", "..", ".x", "x.", "a..b",
          "stamina", "weather", "weather.build", "stamina.tire.x", "stamina.own_stamina", "stamina.tire",
          "engine.errors.WorldError", "engine", "json.loads", "math.pi", "torch.zeros", "__import__"]
CHARS = ([chr(c) for c in range(0, 32) if c not in (9, 10, 13)]
         + ["\x7f", "\x85", "\ufeff", "\ufffe", "\u2028", "\udcff", "\udcc3", "\udc80"]  # surrogates: raw bytes
         + list(":[]{}-#&*!|>\"'%@`, \t\n?"))
KEYS = ["count", "capacity", "components", "spawn", "lifecycle", "entity", "action", "observation", "reward",
        "of", "with", "to", "exclude_self", "value", "shared", "scale", "reduce", "mode", "substeps", "contacts",
        "shape", "dtype", "default", "doc", "max_steps", "end_when", "size", "fn", "system", "params", "state",
        "reads", "writes", "controls", "name", "extensions", "plugins", "render", "dt", "arena", "<<", "cuont",
        "x", "1", "null", "true", "'a b'", "despawn_on_contact", "respawn_after", "uniform", "normal",
        "constant", "scope", "reset", "group", "record", "agents", "target", "threat", "wall"]
SCALAR = re.compile(r"(?<=[:\[,{] )([^\s\[\]{},:#][^\[\]{},#\n]*?)(?=\s*(?:[,\]}]|#|$))", re.M)
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])")
NAME_LIST = re.compile(r"\[([a-z_][\w]*(?:, [a-z_][\w]*)*)\]")
DOTTED_RE = re.compile(r"\b[a-z_]\w*\.[a-z_]\w*(?:\.[a-z_]\w*)*\b")


def _lines(text: str) -> list[str]:
    return text.split("\n")


def flip_char(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(CHARS) + text[i + (rng.random() < 0.5):]


def delete_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def duplicate_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines) + 1) if rng.random() < 0.3 else i, lines[i])
    return "\n".join(lines)


def swap_lines(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _replace_match(text: str, rng: random.Random, pattern: re.Pattern, new) -> str:
    found = list(pattern.finditer(text))
    if not found:
        return text
    m = rng.choice(found)
    return text[:m.start()] + new(m) + text[m.end():]


def swap_values(text: str, rng: random.Random) -> str:
    found = list(SCALAR.finditer(text))
    if len(found) < 2:
        return text
    a, b = sorted(rng.sample(found, 2), key=lambda m: m.start())
    return text[:a.start()] + b.group(0) + text[a.end():b.start()] + a.group(0) + text[b.end():]


def replace_number(text: str, rng: random.Random) -> str:
    return _replace_match(text, rng, NUMBER, lambda m: rng.choice(NUMBERS))


def replace_value(text: str, rng: random.Random) -> str:
    words = sorted(set(re.findall(r"\b[a-z_]+\b", text)))
    pool = VALUES + NUMBERS + (words or ["x"])
    return _replace_match(text, rng, SCALAR, lambda m: rng.choice(pool))


def deep_nesting(text: str, rng: random.Random) -> str:
    k = rng.choice([63, 64, 65, 66, 200, 3000])
    deep = rng.choice(["[" * k + "]" * k, "{a: " * k + "1" + "}" * k, "[" * k + "1" + "]" * k])
    if rng.random() < 0.3:  # block-style nesting
        deep = "\n" + "\n".join("  " * (i + 1) + "- " for i in range(min(k, 300)))[:-1] + "1"
    return _replace_match(text, rng, SCALAR, lambda m: deep)


def random_key(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    indent = re.match(r"\s*", lines[i]).group(0)
    value = rng.choice(VALUES + NUMBERS + ["1", "a"])
    lines.insert(i + 1, f"{indent}{rng.choice(KEYS)}: {value}")
    return "\n".join(lines)


def rename_key(text: str, rng: random.Random) -> str:
    return _replace_match(text, rng, re.compile(r"^(\s*)([a-z_]+)(?=:)", re.M),
                          lambda m: m.group(1) + rng.choice(KEYS + [m.group(2)[::-1], m.group(2) * 2]))


def reindent(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines[i] = (" " * rng.randint(1, 3) + lines[i]) if rng.random() < 0.5 else lines[i][rng.randint(1, 3):]
    return "\n".join(lines)


def truncate(text: str, rng: random.Random) -> str:
    return text[:rng.randrange(len(text) + 1)]


def list_items(text: str, rng: random.Random) -> str:
    def new(m: re.Match) -> str:
        items = m.group(1).split(", ")
        choice = rng.random()
        if choice < 0.5:
            items.insert(rng.randrange(len(items) + 1), rng.choice(items))  # a duplicate
        elif choice < 0.7:
            items = []
        else:
            rng.shuffle(items)
        return "[" + ", ".join(items) + "]"

    return _replace_match(text, rng, NAME_LIST, new)


def zero_count(text: str, rng: random.Random) -> str:
    return _replace_match(text, rng, re.compile(r"(count|capacity): \d+"),
                          lambda m: f"{m.group(1)}: {rng.choice([0, 0, 1, 65536, 65537, 40000])}")


def dotted_path(text: str, rng: random.Random) -> str:
    return _replace_match(text, rng, DOTTED_RE, lambda m: rng.choice(DOTTED))


def whole_file(text: str, rng: random.Random) -> str:
    return rng.choice(["", "\n\n", "# only a comment\n", "---\n", "--- \n...\n", "[]", "1", "'x'", "null",
                       text + "\n---\n" + text, "%YAML 1.1\n---\n" + text, "\ufeff" + text,
                       "a: &a [*a]\n", "a: &a {b: *a}\n" + text, text.replace("\n", "\r\n"),
                       text.replace("  ", "\t", 1)])


MUTATORS = [flip_char, delete_line, duplicate_line, swap_lines, swap_values, replace_number, replace_value,
            deep_nesting, random_key, rename_key, reindent, truncate, list_items, zero_count, dotted_path,
            whole_file]
#: Mutators that keep the file mostly valid, so that the world gets past the schema and runs: drawn more often.
SEMANTIC = [replace_number, replace_value, list_items, zero_count, swap_values, dotted_path, duplicate_line]


def mutate(text: str, rng: random.Random) -> str:
    """One mutated copy: 1 to 3 mutators, the semantic ones drawn more often."""
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.choice(SEMANTIC) if rng.random() < 0.6 else rng.choice(MUTATORS)
        text = op(text, rng)
    return text


def mutations(text: str, rng: random.Random, n: int = 1) -> list[str]:
    """``n`` mutated copies of ``text``, reproducible from the state of ``rng``."""
    return [mutate(text, rng) for _ in range(n)]


def encode_case(text: str) -> bytes:
    """The bytes of a mutated file (surrogate escapes become the raw bytes they stand for)."""
    return text.encode("utf-8", "surrogateescape")


def run_case(path: Path, text: str, trust: list[str], steps: int = 3) -> tuple[str, str]:
    """Write ``text`` to ``path``, make a Sim of 2 worlds and step it ``steps`` times.

    Returns ``("ran", "")``, ``("user_error", message)`` or ``("failure", traceback)`` (any exception
    that is not a ``UserError``: a bug).
    """
    import engine
    from engine.errors import UserError

    path.write_bytes(encode_case(text))
    sim = None
    try:
        sim = engine.make(path, num_worlds=2, trust=trust)
        sim.reset()
        for _ in range(steps):
            sim.step(sim.sample_actions())
        return "ran", ""
    except UserError as e:
        return "user_error", str(e)
    except Exception as e:  # noqa: BLE001 — anything else is what we are looking for
        return "failure", "".join(traceback.format_exception(type(e), e, e.__traceback__)[-8:])
    except RecursionError as e:
        return "failure", f"RecursionError: {e}"
    finally:
        if sim is not None and hasattr(sim, "close"):
            try:
                sim.close()
            except Exception:  # noqa: BLE001
                pass


def fuzz(seed: int, cases: int, weights: dict[str, float] | None = None, budget_s: float | None = None) -> dict:
    """Fuzz every world of ``worlds/`` (a copy in a temporary folder); ``cases`` per world, scaled by
    ``weights[relative path]`` (slow worlds get fewer). Returns a JSON-able report."""
    import torch

    torch.set_num_threads(1)
    weights = weights or {}
    report: dict = {"seed": seed, "cases": 0, "user_error": 0, "ran": 0, "failure": 0, "failures": [],
                    "unlocated": [], "messages": {}, "per_world": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="worldloom-fuzz-") as tmp:
        shutil.copytree(ROOT / "worlds", Path(tmp) / "worlds")
        (Path(tmp) / "plugins").symlink_to(ROOT / "plugins")
        trust = [str(Path(tmp) / "worlds")]
        for src in sorted((ROOT / "worlds").glob("**/*.yaml")):
            rel = src.relative_to(ROOT / "worlds").as_posix()
            original = src.read_text()
            target = Path(tmp) / "worlds" / rel
            rng = random.Random(f"{seed}:{rel}")
            n = max(1, round(cases * weights.get(rel, 1.0)))
            t0 = time.perf_counter()
            for i, text in enumerate(mutations(original, rng, n)):
                status, detail = run_case(target, text, trust)
                report["cases"] += 1
                report[status] += 1
                if status == "failure":
                    report["failures"].append({"world": rel, "case": i, "error": detail, "text": text})
                elif status == "user_error":
                    if target.name not in detail:
                        report["unlocated"].append({"world": rel, "case": i, "error": detail})
                    kind = re.sub(r"^\S+:\d+:\d+: (\S+: )?", "", detail)[:50]
                    report["messages"][kind] = report["messages"].get(kind, 0) + 1
                if budget_s is not None and time.perf_counter() - start > budget_s:
                    break
            report["per_world"][rel] = {"cases": i + 1, "seconds": round(time.perf_counter() - t0, 2)}
    report["seconds"] = round(time.perf_counter() - start, 2)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", type=int, default=300, help="mutations per world file (scaled by --weight)")
    ap.add_argument("--weight", action="append", default=[], metavar="REL=W",
                    help="scale the number of cases of one world (e.g. swarm.yaml=0.1)")
    ap.add_argument("--memory-gib", type=float, default=4.0, help="address-space limit of this process")
    ap.add_argument("--json", type=Path, help="write the report here (default: stdout)")
    args = ap.parse_args(argv)
    if args.memory_gib > 0:
        import resource

        limit = int(args.memory_gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(1000)  # the default: a case must not depend on a raised limit
    weights = {k: float(v) for k, v in (w.split("=", 1) for w in args.weight)}
    report = fuzz(args.seed, args.cases, weights)
    out = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(out)
    else:
        print(out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())

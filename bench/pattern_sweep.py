"""Sweep of every regular expression of the project for super-linear matching on hostile input.

What it collects: every compiled pattern reachable from the modules of ``tap_core`` and
``connectors`` (module globals, class attributes, and patterns held one level down in tuples,
lists and dicts), plus every ``re.<function>(<literal pattern>, ...)`` call written inline
(found by reading the source: patterns built at run time from data are listed as skipped).

What it feeds them: per pattern, inputs a backtracking matcher finds hard, built from what the
pattern itself accepts: each literal run of the pattern ("<Relationship ", "[InternetShortcut]")
repeated, or followed by a long run of one character; long runs of single characters and of
character pairs ("a.", "-a", "0."...) from a pool that covers the usual classes (letters,
digits, dots, signs, quotes, brackets, whitespace, NUL, non-ASCII); and the issue's inputs.

How it decides: each input is timed at n and 4n characters (``finditer`` to the end, as the
scanners use the patterns, and ``fullmatch``); a linear pattern takes about 4x as long, a
quadratic one about 16x. Inputs whose ratio passes ``--ratio`` at a time worth measuring are
suspects; the worst input of each suspect is then timed at ``--size`` characters (50 KB by
default) in a child process killed after ``--cap`` seconds.

Usage: python bench/pattern_sweep.py [--size 50000] [--screen 2000] [--ratio 9] [--cap 20]
       [--only SUBSTRING] [--json]
Figures only: this is a benchmark, not a test (tests/test_hostile_inputs.py holds the
regression inputs, run through the public paths).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import multiprocessing as mp
import pkgutil
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PACKAGES = ("tap_core", "connectors")
_RE_FUNCS = frozenset({"compile", "search", "match", "fullmatch", "sub", "subn", "findall",
                       "finditer", "split"})
# Characters that exercise the usual classes: word, digit, dot, sign, quote, bracket, space,
# control, non-ASCII letters and symbols, CJK, full-width dot.
POOL = [*"a0A_.-+=:/\\@%#?&;,'\"<>()[]{}! \t\n\r\x00é☃例。|*~^$", "\u200b"]
PAIR_SEPS = list(".-_ =:/@%<\"',;\n")


@dataclass(slots=True)
class Pattern:
    where: str
    regex: re.Pattern[Any]
    #: Methods the code calls on it ("search", "sub"...); empty when it is passed around.
    used_as: frozenset[str] = frozenset()

    @property
    def anchored(self) -> bool:
        """Only ever matched at one position (match/fullmatch): no rescan from each offset."""
        return bool(self.used_as) and self.used_as <= {"match", "fullmatch"}


@dataclass(slots=True)
class Suspect:
    where: str
    pattern: str
    input: str
    screen_ratio: float
    screen_seconds: float
    seconds_at_size: float | None = None  # None: killed at the cap
    size_ratio: float | None = None  # time at size / time at size/4 (about 4 when linear)
    size: int = 0
    used_as: list[str] = field(default_factory=list)


# --- collection ----------------------------------------------------------------------------------

def _modules() -> Iterator[Any]:
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        yield pkg
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}."):
            try:
                yield importlib.import_module(info.name)
            except Exception as exc:  # an optional dependency missing: its source is still read
                print(f"# not imported: {info.name}: {type(exc).__name__}", file=sys.stderr)


def _held(value: Any, depth: int = 0) -> Iterator[re.Pattern[Any]]:
    if isinstance(value, re.Pattern):
        yield value
    elif depth < 3 and isinstance(value, (tuple, list, frozenset, set)):
        for v in value:
            yield from _held(v, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for v in value.values():
            yield from _held(v, depth + 1)


def _flags(node: ast.expr | None) -> int:
    """re flags written as re.I | re.M ... (0 when it is not that simple)."""
    if node is None:
        return 0
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "re":
        return int(getattr(re, node.attr, 0))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flags(node.left) | _flags(node.right)
    return 0


def _inline(path: Path, skipped: list[str]) -> Iterator[Pattern]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in _RE_FUNCS and node.args):
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        used_as = frozenset() if node.func.attr == "compile" else frozenset({node.func.attr})
        arg = node.args[0]
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, (str, bytes))):
            skipped.append(where)
            continue
        flag_node = next((k.value for k in node.keywords if k.arg == "flags"), None)
        if flag_node is None:
            pos = {"compile": 1, "search": 2, "match": 2, "fullmatch": 2, "findall": 2,
                   "finditer": 2, "split": 3, "sub": 4, "subn": 4}[node.func.attr]
            flag_node = node.args[pos] if len(node.args) > pos else None
        try:
            yield Pattern(where, re.compile(arg.value, _flags(flag_node)), used_as)
        except re.error:
            skipped.append(where)


def _uses() -> dict[str, set[str]]:
    """name -> the methods called on it anywhere (``_URL_FILE.findall`` -> findall)."""
    out: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr in _RE_FUNCS - {"compile"}:
                    target = node.value
                    name = target.id if isinstance(target, ast.Name) else (
                        target.attr if isinstance(target, ast.Attribute) else "")
                    if name and name != "re":
                        out.setdefault(name, set()).add(node.attr)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    out.setdefault(node.id, set())
    return out


def collect() -> tuple[list[Pattern], list[str]]:
    seen: dict[tuple[Any, int], Pattern] = {}
    uses = _uses()
    for mod in _modules():
        for name, value in vars(mod).items():
            owners = [(name, value)]
            if isinstance(value, type) and value.__module__ == mod.__name__:
                owners += [(f"{name}.{k}", v) for k, v in vars(value).items()]
            for label, v in owners:
                # A pattern held in a container is passed around: its uses are not traced.
                direct = isinstance(v, re.Pattern)
                used_as = frozenset(uses.get(label.rsplit(".", 1)[-1], ())) if direct else frozenset()
                for rx in _held(v):
                    where = f"{mod.__name__}.{label}"
                    seen.setdefault((rx.pattern, rx.flags), Pattern(where, rx, used_as))
    skipped: list[str] = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for p in _inline(path, skipped):
                seen.setdefault((p.regex.pattern, p.regex.flags), p)
    return list(seen.values()), skipped


# --- inputs --------------------------------------------------------------------------------------

def _literals(rx: re.Pattern[Any]) -> list[str]:
    """Literal runs of the pattern ("<Relationship ", "[InternetShortcut]"), longest first."""
    from re import _parser  # type: ignore[attr-defined]

    out: set[str] = set()

    def walk(items: Any) -> None:
        run: list[str] = []
        for op, av in items:
            if str(op) == "LITERAL":
                run.append(chr(av))
                continue
            if len(run) >= 2:
                out.add("".join(run))
            run = []
            for sub in (av if isinstance(av, (list, tuple)) else [av]):
                if isinstance(sub, _parser.SubPattern):
                    walk(sub)
                elif isinstance(sub, (list, tuple)):
                    for x in sub:
                        if isinstance(x, _parser.SubPattern):
                            walk(x)
        if len(run) >= 2:
            out.add("".join(run))

    pattern = rx.pattern.decode("latin-1") if isinstance(rx.pattern, bytes) else rx.pattern
    try:
        walk(_parser.parse(pattern, rx.flags & ~re.UNICODE & ~re.ASCII & ~re.LOCALE))
    except Exception:
        return []
    return sorted(out, key=lambda s: (-len(s), s))[:8]


def inputs(rx: re.Pattern[Any], n: int) -> Iterator[tuple[str, str]]:
    """(label, text of about n characters) for one pattern."""
    for c in POOL:
        yield f"{c!r}*n", c * n
        for bad in "!x":  # a run, then one character that makes the match fail at the end
            if bad != c:
                yield f"{c!r}*n+{bad!r}", c * n + bad
    for c in "a0.":
        for s in PAIR_SEPS:
            if s != c:
                yield f"{(c + s)!r}*n", (c + s) * (n // 2)
                yield f"{(s + c)!r}*n", (s + c) * (n // 2)
    for lit in _literals(rx):
        yield f"{lit!r}*n", lit * max(1, n // len(lit))
        for c in POOL:
            yield f"{lit!r}+{c!r}*n", lit + c * n
        for lit2 in _literals(rx):
            if lit2 != lit:
                yield f"{lit!r}+{lit2!r}*n", lit + lit2 * max(1, n // len(lit2))


def _as(rx: re.Pattern[Any], text: str) -> Any:
    return text.encode("utf-8") if isinstance(rx.pattern, bytes) else text


def run_once(rx: re.Pattern[Any], text: Any, anchored: bool = False) -> float:
    """One pass as the code uses the pattern: match/fullmatch only, or every match in the text
    (search, findall, sub... all scan from each offset, as finditer does)."""
    t0 = time.perf_counter()
    if anchored:
        rx.match(text)
    else:
        for _ in rx.finditer(text):
            pass
    rx.fullmatch(text)
    return time.perf_counter() - t0


def timed(rx: re.Pattern[Any], text: Any, repeat: int = 2, anchored: bool = False) -> float:
    return min(run_once(rx, text, anchored) for _ in range(repeat))


# --- screening and measuring ---------------------------------------------------------------------

def screen(p: Pattern, n: int, ratio: float, floor: float) -> Suspect | None:
    worst: Suspect | None = None
    small = {label: text for label, text in inputs(p.regex, n)}
    for label, text in inputs(p.regex, 4 * n):
        if timed(p.regex, _as(p.regex, text), 1, p.anchored) < floor:
            continue  # too fast at 4n to be worth a closer look
        # Confirm with repeats: small timings are noisy on a shared machine.
        t_small = timed(p.regex, _as(p.regex, small[label]), 3, p.anchored)
        t_big = timed(p.regex, _as(p.regex, text), 3, p.anchored)
        r = t_big / max(t_small, 1e-9)
        if r >= ratio and (worst is None or t_big > worst.screen_seconds):
            worst = Suspect(p.where, str(p.regex.pattern)[:160], label, round(r, 1), t_big,
                            used_as=sorted(p.used_as))
            if t_big >= 0.02:
                break  # clearly super-linear: one input is enough, the next ones cost seconds
    return worst


def _screen_child(p: Pattern, n: int, ratio: float, floor: float, queue: Any) -> None:
    queue.put(screen(p, n, ratio, floor))


def screen_isolated(p: Pattern, n: int, ratio: float, floor: float, cap: float) -> Suspect | None:
    """:func:`screen` in a child process killed after ``cap`` seconds (an exponential pattern
    never returns from a 4n-character input): killed is a suspect too."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_screen_child, args=(p, n, ratio, floor, queue))
    proc.start()
    proc.join(cap)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return Suspect(p.where, str(p.regex.pattern)[:160], "(screen killed: exponential?)", 0.0,
                       cap, used_as=sorted(p.used_as))
    return queue.get() if not queue.empty() else None


def _child(pattern: Any, flags: int, label: str, size: int, anchored: bool, queue: Any) -> None:
    rx = re.compile(pattern, flags)
    for n in (size // 4, size):
        text = _as(rx, dict(inputs(rx, n))[label])
        first = timed(rx, text, 1, anchored)
        # Repeats (the fastest counts) only where they are cheap: a shared machine is noisy.
        queue.put(first if first > 1.0 else min(first, timed(rx, text, 2, anchored)))


def measure(p: Pattern, s: Suspect, size: int, cap: float) -> None:
    """Time the suspect's input at size/4 and size (killed after ``cap`` seconds)."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(p.regex.pattern, p.regex.flags, s.input, size, p.anchored, queue))
    proc.start()
    proc.join(cap)
    quarter = queue.get() if not queue.empty() else None
    if proc.is_alive():
        proc.kill()
        proc.join()
        s.seconds_at_size = None
    else:
        s.seconds_at_size = queue.get()
    s.size = size
    if quarter is not None and s.seconds_at_size is not None:
        s.size_ratio = round(s.seconds_at_size / max(quarter, 1e-9), 1)


def issue_cases() -> list[tuple[str, str, Any]]:
    """The issue's inputs against the patterns it names (module, attribute, text)."""
    return [
        ("tap_core.attachments.scanners.urls", "_URL_FILE", "[InternetShortcut]\r\n" + "\n" * 51_200),
        ("tap_core.attachments.scanners.ooxml", "_REL", "<Relationship " + "a" * 25_600 + ">"),
        ("tap_core.attachments.scanners.ooxml", "_ATTR", "<Relationship " + "a" * 25_600 + ">"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=50_000, help="characters of the measured input")
    ap.add_argument("--screen", type=int, default=2_000, help="n of the n-vs-4n screening")
    ap.add_argument("--ratio", type=float, default=9.0, help="4n/n time ratio that makes a suspect")
    ap.add_argument("--floor", type=float, default=0.001, help="seconds at 4n worth measuring")
    ap.add_argument("--matter", type=float, default=0.05,
                    help="seconds at --size below which a pattern is fast enough, whatever its ratio")
    ap.add_argument("--cap", type=float, default=20.0, help="seconds before a measurement is killed")
    ap.add_argument("--only", default="", help="only patterns whose location contains this")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    patterns, skipped = collect()
    patterns = [p for p in patterns if args.only in p.where]
    t0 = time.perf_counter()
    suspects: list[tuple[Pattern, Suspect]] = []
    for p in patterns:
        s = screen_isolated(p, args.screen, args.ratio, args.floor, args.cap * 3)
        if s is not None:
            suspects.append((p, s))
            print(f"# suspect {p.where}: {s.input} x{s.screen_ratio}", file=sys.stderr)
    for p, s in suspects:
        if not s.input.startswith("(screen killed"):
            measure(p, s, args.size, args.cap)
    # Confirmed at full size (or killed there); the rest were noise of the small screen: linear
    # at full size, or too fast there to matter (a quadratic pattern takes seconds at 50 KB).
    cleared = [s for _, s in suspects if s.seconds_at_size is not None and (
        s.seconds_at_size < args.matter or (s.size_ratio is not None and s.size_ratio < args.ratio * 0.75))]
    suspects = [(p, s) for p, s in suspects if s not in cleared]
    screening = time.perf_counter() - t0

    issue: list[dict[str, Any]] = []
    for module, attr, text in issue_cases():
        rx = getattr(importlib.import_module(module), attr, None)
        if isinstance(rx, re.Pattern):
            issue.append({"pattern": f"{module}.{attr}", "chars": len(text),
                          "seconds": round(timed(rx, text, 1), 4)})

    worst = sorted(suspects, key=lambda ps: -(ps[1].seconds_at_size or float("inf")))
    report = {
        "patterns": len(patterns),
        "skipped_dynamic": skipped,
        "super_linear": len(suspects),
        "cleared_at_size": [f"{s.where} ({s.input}: x{s.size_ratio})" for s in cleared],
        "size": args.size,
        "suspects": [asdict(s) for _, s in worst],
        "issue_inputs": issue,
        "sweep_seconds": round(screening, 1),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"patterns swept: {len(patterns)} (inline patterns built at run time, skipped: {len(skipped)})")
    print(f"super-linear (4n/n >= {args.ratio:g} at n={args.screen}): {len(suspects)}")
    for _, s in worst:
        at = f"{s.seconds_at_size:.3f} s" if s.seconds_at_size is not None else f"> {args.cap:g} s (killed)"
        ratio = f"x{s.size_ratio}" if s.size_ratio is not None else "x?"
        use = ",".join(s.used_as) or "passed around"
        print(f"  {at:>18} at {s.size} chars ({ratio:>6} vs size/4)  {s.where} [{use}]  input {s.input[:60]}")
    print(f"screen suspects cleared at full size (linear): {len(cleared)}")
    print("issue inputs:")
    for row in issue:
        print(f"  {row['seconds']:>10.4f} s  {row['pattern']} ({row['chars']} chars)")
    print(f"sweep took {screening:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

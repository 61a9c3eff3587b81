"""URL extraction benchmark: tap_core.urls.extract vs urlextract.URLExtract.

Both extractors run on the same inputs: the public extraction fixtures in
``<corpus>/urls/extraction/`` (linkify-it, twitter-text conformance, SpamAssassin
``uri_text.t``, urlextract's own unit tests, rspamd's URL tests), and, for speed, the plain-text
bodies of the ham messages in ``<corpus>/ham``. Unwrapping is measured on
``url_guard_unwrap_cases.json`` (urlextract does not unwrap), and our normaliser against the
WHATWG URL test data (``whatwg_url_wpt``; urlextract does not normalise).

Matching rule (the same for both tools, applied to the raw strings they return):
- a found string and an expected URL match when their *keys* are equal; the key is the
  normalised URL (``normalize_url``) without an ``http://``/``https://`` prefix and without a
  trailing "/", so scheme-less expectations ("example.com") match "http://example.com/";
  strings that do not normalise are compared lower-cased;
- per case, expected and found keys are de-duplicated; TP = expected keys found, FN = the
  rest, FP = found keys that match no expected key;
- SpamAssassin states expectations as regexes over its URI list: a positive pattern is a TP
  when it matches (case-insensitively) any found string, its normalised form or, for a
  scheme-less find, "http://" + the find; each found string matching no positive pattern of
  its line is an FP;
- rspamd's tests state the expected host: TP when a found URL has that host, FP for every
  other host found; rspamd's negative *parser* cases ("test.com>" must not parse as a whole)
  are not extraction expectations and are left out;
- expectations that are bare e-mail addresses (no scheme, no "mailto:" in the input) are left
  out: neither tool reports e-mail addresses (urlextract's default, our design);
- precision/recall are micro-averaged over all cases.

Speed: texts per second for both over the same inputs in one run, our normalisation caches
cleared before every repeat. No network: sockets are disabled for the whole run and
URLExtract reads its bundled TLD list (an empty private cache dir, no update()).

Usage: python bench/url_extraction.py [--corpus ../shared/corpus] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import ast
import email
import email.policy
import json
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tap_core.parsing.domains import split_host  # noqa: E402
from tap_core.urls import extract as _extract_mod  # noqa: E402
from tap_core.urls import normalize as _normalize_mod  # noqa: E402
from tap_core.urls.extract import extract_text  # noqa: E402
from tap_core.urls.normalize import normalize_url  # noqa: E402
from tap_core.urls.unwrap import unwrap  # noqa: E402

Extractor = Callable[[str], list[str]]


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    dataset: str
    text: str
    expected: list[str] = field(default_factory=list)  # URLs (kind "url") or hosts ("host")
    kind: str = "url"  # "url" | "host" | "sa"
    anti: list[str] = field(default_factory=list)  # SpamAssassin anti-patterns


_EMAIL_RE = re.compile(r"^[^\s@/:]+@[^\s@/]+$")


def _is_bare_email(expected: str, text: str) -> bool:
    return bool(_EMAIL_RE.match(expected)) and "mailto:" not in text.lower()


def load_linkify(root: Path) -> Iterator[Case]:
    """links.txt: a line, then the expected link on the next line (or the line itself)."""
    base = root / "linkify-it" / "test" / "fixtures"
    lines = (base / "links.txt").read_text(encoding="utf-8").splitlines()
    skip = False
    for i, line in enumerate(lines):
        if skip:
            skip = False
            continue
        line = re.sub(r"^%.*", "", line)
        nxt = re.sub(r"^%.*", "", lines[i + 1]) if i + 1 < len(lines) else ""
        if not line.strip():
            continue
        expected = nxt.strip() if nxt.strip() else line.strip()
        skip = bool(nxt.strip())
        if _is_bare_email(expected, line):
            continue
        yield Case("linkify-it", line, [expected])
    for line in (base / "not_links.txt").read_text(encoding="utf-8").splitlines():
        line = re.sub(r"^%.*", "", line)
        if line.strip():
            yield Case("linkify-it", line, [])


def load_twitter(root: Path) -> Iterator[Case]:
    data = yaml.safe_load((root / "twitter-text" / "conformance" / "extract.yml").read_text("utf-8"))
    tests = data["tests"]
    for section in ("urls", "urls_with_indices", "urls_with_directional_markers",
                    "tco_urls_with_params"):
        for t in tests.get(section, []):
            expected = [e["url"] if isinstance(e, dict) else e for e in (t.get("expected") or [])]
            yield Case("twitter-text", t["text"], expected)


def load_spamassassin(root: Path) -> Iterator[Case]:
    text = (root / "spamassassin" / "uri_text.t").read_text(encoding="utf-8", errors="replace")
    data = text.split("__DATA__", 1)[1]
    for line in data.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = re.match(r"^(.*?)\t+(.*?)\s*$", line)
        if not m or not m.group(1):
            continue
        string = m.group(1).replace("{ESC}", "\x1b")
        positive: list[str] = []
        anti: list[str] = []
        for pat in m.group(2).split():
            if pat.startswith("!"):
                anti.append(pat[1:])
            elif "mailto" in pat and "mailto" not in string.lower():
                continue  # SpamAssassin turns bare e-mail addresses into mailto: URIs
            else:
                positive.append(pat)
        yield Case("spamassassin", string, positive, kind="sa", anti=anti)


class _LiteralError(ValueError):
    pass


def _literal(node: ast.AST) -> Any:
    """ast.literal_eval plus the two idioms the urlextract tests use (% and chr())."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _literal(node.left) % _literal(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "chr":
        return chr(_literal(node.args[0]))
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e) for e in node.elts]
    raise _LiteralError(ast.dump(node))


def _default_config_find_urls(fn: ast.FunctionDef) -> bool:
    """The test calls find_urls with the default URLExtract configuration only."""
    calls_find = False
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) for t in targets):
                return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name == "find_urls":
                if any(k.arg not in ("only_unique", "get_indices") for k in node.keywords):
                    return False
                calls_find = True
            elif name.startswith(("set_", "add_", "remove_", "update")):
                return False
    return calls_find


def load_urlextract(root: Path) -> Iterator[Case]:
    for path in sorted((root / "urlextract" / "tests" / "unit").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in tree.body:
            if not isinstance(fn, ast.FunctionDef) or not _default_config_find_urls(fn):
                continue
            for dec in fn.decorator_list:
                if not (isinstance(dec, ast.Call) and len(dec.args) == 2):
                    continue
                names = dec.args[0]
                if not (isinstance(names, ast.Constant) and names.value == "text, expected"):
                    continue
                try:
                    rows = _literal(dec.args[1])
                except _LiteralError:
                    continue
                for text, expected in rows:
                    urls = [e[0] if isinstance(e, list | tuple) else e for e in expected]
                    yield Case("urlextract", text, urls)


_LUA_TOKEN_RE = re.compile(
    r"""\s+|--\[\[.*?\]\]|--[^\n]*|"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|\[\[(.*?)\]\]"""
    r"""|([{}=,;])|([A-Za-z_][A-Za-z0-9_]*)|(-?\d+(?:\.\d+)?)|(.)""",
    re.DOTALL,
)


def _lua_unescape(s: str) -> str:
    table = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}

    def rep(m: re.Match[str]) -> str:
        g = m.group(1)
        return chr(int(g)) if g.isdigit() else table.get(g, g)

    return re.sub(r"\\(\d{1,3}|.)", rep, s)


def _lua_tokens(src: str, start: int) -> Iterator[tuple[str, Any]]:
    for m in _LUA_TOKEN_RE.finditer(src, start):
        if m.group(1) is not None or m.group(2) is not None:
            yield "str", _lua_unescape(m.group(1) if m.group(1) is not None else m.group(2))
        elif m.group(3) is not None:
            yield "str", m.group(3)
        elif m.group(4):
            yield "sym", m.group(4)
        elif m.group(5):
            yield "name", m.group(5)
        elif m.group(6):
            yield "num", float(m.group(6))
        elif m.group(7):
            yield "other", m.group(7)


def _lua_table(tokens: Iterator[tuple[str, Any]]) -> list[Any] | dict[str, Any]:
    """Parse a table constructor whose "{" was consumed (positional or name=value fields)."""
    items: list[Any] = []
    named: dict[str, Any] = {}
    pending: Any = None
    key: str | None = None
    have = False
    for kind, value in tokens:
        if kind == "sym" and value == "}":
            break
        if kind == "sym" and value in ",;":
            if have:
                if key is None:
                    items.append(pending)
                else:
                    named[key] = pending
            pending, key, have = None, None, False
            continue
        if kind == "sym" and value == "=":
            key = str(pending)
            pending, have = None, False
            continue
        if kind == "sym" and value == "{":
            pending, have = _lua_table(tokens), True
        elif kind == "name":
            pending = {"true": True, "false": False, "nil": None}.get(value, value)
            have = True
        else:
            pending, have = value, True
    if have:
        if key is None:
            items.append(pending)
        else:
            named[key] = pending
    return named if named and not items else items


def load_rspamd(root: Path) -> Iterator[Case]:
    src = (root / "rspamd" / "url.lua").read_text(encoding="utf-8")
    tables = []
    for m in re.finditer(r"\bcases\s*=\s*\{", src):
        tables.append(_lua_table(_lua_tokens(src, m.end())))
        if len(tables) == 2:
            break
    for row in tables[0] if tables else []:  # { text, { host, user } }
        text, host = row[0], row[1][0]
        if "://" not in text and "mailto:" not in text and "@" in text:
            continue  # bare e-mail address
        yield Case("rspamd", text, [host], kind="host")
    for row in tables[1] if len(tables) > 1 else []:  # { text, parses?, { host = ... } }
        if len(row) >= 3 and row[1] is True and isinstance(row[2], dict) and row[2].get("host"):
            yield Case("rspamd", row[0], [row[2]["host"]], kind="host")


def whatwg_agreement(root: Path) -> dict[str, Any]:
    """normalize_url vs the WHATWG URL test data, for http/https/ftp inputs.

    Agreement: a case the standard rejects gives None; otherwise our URL for (input, base)
    equals our normalisation of the standard's href (so our intended canonicalisations, such
    as decoded unreserved escapes or a dropped empty "?", do not count as disagreement).
    """
    path = root / "whatwg_url_wpt" / "tests" / "wpt" / "urltestdata.json"
    if not path.exists():
        return {"cases": 0, "agree": 0}
    agree = total = 0
    for t in json.loads(path.read_text("utf-8")):
        if isinstance(t, str):
            continue
        inp, base = t["input"], t.get("base")
        if t.get("failure"):
            if not inp.lower().startswith(("http", "ftp")):
                continue
            total += 1
            agree += normalize_url(inp, base) is None
            continue
        if t["protocol"][:-1] not in ("http", "https", "ftp"):
            continue
        total += 1
        got, want = normalize_url(inp, base), normalize_url(t["href"])
        agree += got is not None and want is not None and got.url == want.url
    return {"cases": total, "agree": agree, "rate": agree / total if total else 1.0}


LOADERS: dict[str, Callable[[Path], Iterator[Case]]] = {
    "linkify-it": load_linkify,
    "twitter-text": load_twitter,
    "spamassassin": load_spamassassin,
    "urlextract": load_urlextract,
    "rspamd": load_rspamd,
}


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def _key(s: str) -> str:
    n = normalize_url(s.strip())
    if n is None:
        return s.strip().lower()
    u = n.url
    for prefix in ("http://", "https://"):
        if u.startswith(prefix):
            u = u[len(prefix) :]
            break
    return u[:-1] if u.endswith("/") else u


def _host(s: str) -> str | None:
    n = normalize_url(s.strip())
    return n.host if n is not None else None


def _expected_host(h: str) -> str:
    n = normalize_url("http://" + h.strip())
    return n.host if n is not None else h.lower().rstrip(".")


def _forms(found: str) -> list[str]:
    forms = [found]
    n = normalize_url(found)
    if n is not None:
        forms += [n.url, n.display_url]
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", found):
        forms.append("http://" + found)
    return forms


@dataclass
class Score:
    tp: int = 0
    fn: int = 0
    fp: int = 0

    def add(self, other: Score) -> None:
        self.tp += other.tp
        self.fn += other.fn
        self.fp += other.fp

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0


def score_case(case: Case, found: list[str]) -> Score:
    if case.kind == "host":
        hosts = {h for h in (_host(f) for f in found) if h}
        want = {_expected_host(e) for e in case.expected}
        tp = len(want & hosts)
        return Score(tp=tp, fn=len(want) - tp, fp=len(hosts - want))
    if case.kind == "sa":
        pats = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in case.expected]
        anti = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in case.anti]
        forms = {f: _forms(f) for f in dict.fromkeys(found)}
        tp = sum(1 for p in pats if any(p.search(x) for fs in forms.values() for x in fs))
        fp = 0
        for fs in forms.values():
            good = any(p.search(x) for p in pats for x in fs)
            bad = any(p.search(x) for p in anti for x in fs)
            if bad or not good:
                fp += 1
        return Score(tp=tp, fn=len(pats) - tp, fp=fp)
    want = {_key(e) for e in case.expected}
    got = {_key(f) for f in found}
    tp = len(want & got)
    return Score(tp=tp, fn=len(want) - tp, fp=len(got - want))


# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------


def ours(text: str) -> list[str]:
    return [f.raw for f in extract_text(text, "bench")]


def make_urlextract(cache_dir: str) -> Extractor:
    from urlextract import URLExtract

    # An empty, writable cache dir: URLExtract falls back to the TLD list bundled with the
    # package and never downloads (we never call update()); DNS checks stay off.
    ux = URLExtract(cache_dir=cache_dir, cache_dns=False)

    def run(text: str) -> list[str]:
        try:
            return [str(u) for u in ux.find_urls(text)]
        except Exception:  # urlextract raises on some inputs (e.g. over its URL limit)
            return []

    return run


def _clear_caches() -> None:
    _normalize_mod.clear_caches()
    _extract_mod.clear_caches()
    split_host.cache_clear()


def time_tool(fn: Extractor, texts: list[str], repeat: int, clear: bool) -> float:
    """Best-of-``repeat`` texts per second over all ``texts``."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        if clear:
            _clear_caches()
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best if best > 0 else float("inf")


def ham_texts(corpus: Path, limit: int = 400) -> list[str]:
    """text/plain bodies of the ham messages: realistic mail text for the speed test."""
    out: list[str] = []
    for folder in ("easy_ham", "hard_ham"):
        for path in sorted((corpus / "ham" / folder).glob("*"))[:limit]:
            with suppress(Exception):  # malformed ham is not what we measure here
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for part in msg.walk():
                    if part.get_content_type() == "text/plain":
                        out.append(str(part.get_content()))
    return out


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def _no_network() -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError("network disabled in the URL extraction benchmark")

    socket.socket.connect = refuse  # type: ignore[method-assign,assignment]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def run(corpus: Path, repeat: int) -> dict[str, Any]:
    root = corpus / "urls" / "extraction"
    cases = [c for loader in LOADERS.values() for c in loader(root)]
    with tempfile.TemporaryDirectory() as cache_dir:
        ux = make_urlextract(cache_dir)
        per: dict[str, dict[str, Score]] = {}
        counts: dict[str, int] = {}
        misses: dict[str, list[dict[str, Any]]] = {"ours": [], "urlextract": []}
        for case in cases:
            counts[case.dataset] = counts.get(case.dataset, 0) + 1
            for name, tool in (("ours", ours), ("urlextract", ux)):
                found = tool(case.text)
                s = score_case(case, found)
                per.setdefault(case.dataset, {}).setdefault(name, Score()).add(s)
                if s.fn or s.fp:
                    misses[name].append({"dataset": case.dataset, "text": case.text,
                                         "expected": case.expected, "found": found})
        total = {name: Score() for name in ("ours", "urlextract")}
        for scores in per.values():
            for name, s in scores.items():
                total[name].add(s)

        unwrap_cases = json.loads((root / "url_guard_unwrap_cases.json").read_text("utf-8"))["cases"]
        unwrap_ok = 0
        for c in unwrap_cases:
            want = normalize_url(c["original"])
            if want is not None and unwrap(c["wrapped"]).url == want.url:
                unwrap_ok += 1

        texts = [c.text for c in cases]
        speed: dict[str, dict[str, float]] = {
            "fixtures": {"texts": len(texts),
                         "ours": time_tool(ours, texts, repeat, clear=True),
                         "urlextract": time_tool(ux, texts, repeat, clear=False)},
        }
        ham = ham_texts(corpus)
        if ham:
            speed["ham_bodies"] = {"texts": len(ham),
                                   "ours": time_tool(ours, ham, repeat, clear=True),
                                   "urlextract": time_tool(ux, ham, repeat, clear=False)}
    for sp in speed.values():
        sp["ratio"] = sp["ours"] / sp["urlextract"] if sp["urlextract"] else float("inf")

    def fmt(s: Score) -> dict[str, Any]:
        return {**asdict(s), "recall": round(s.recall, 4), "precision": round(s.precision, 4)}

    return {
        "corpus": str(root),
        "datasets": {d: {"cases": counts[d], **{n: fmt(s) for n, s in sc.items()}}
                     for d, sc in per.items()},
        "total": {n: fmt(s) for n, s in total.items()},
        "ratios": {
            "recall": total["ours"].recall / total["urlextract"].recall
            if total["urlextract"].recall else float("inf"),
            "precision": total["ours"].precision / total["urlextract"].precision
            if total["urlextract"].precision else float("inf"),
        },
        "normalize_vs_whatwg": whatwg_agreement(root),
        "unwrap": {"cases": len(unwrap_cases), "ours_correct": unwrap_ok,
                   "ours_accuracy": unwrap_ok / len(unwrap_cases) if unwrap_cases else 1.0,
                   "urlextract": "no unwrapping"},
        "speed_texts_per_second": speed,
        "misses": misses,
    }


def print_report(r: dict[str, Any], show_misses: bool) -> None:
    print(f"URL extraction benchmark — fixtures from {r['corpus']}")
    head = (f"{'dataset':<14}{'cases':>6} | {'ours TP':>7}{'FN':>5}{'FP':>5}{'recall':>8}{'prec':>7}"
            f" | {'urlx TP':>7}{'FN':>5}{'FP':>5}{'recall':>8}{'prec':>7}")
    print(head)
    print("-" * len(head))

    def row(name: str, cases: int | str, o: dict[str, Any], u: dict[str, Any]) -> None:
        print(f"{name:<14}{cases:>6} | {o['tp']:>7}{o['fn']:>5}{o['fp']:>5}{o['recall']:>8.3f}"
              f"{o['precision']:>7.3f} | {u['tp']:>7}{u['fn']:>5}{u['fp']:>5}{u['recall']:>8.3f}"
              f"{u['precision']:>7.3f}")

    for d, v in r["datasets"].items():
        row(d, v["cases"], v["ours"], v["urlextract"])
    print("-" * len(head))
    n_cases = sum(v["cases"] for v in r["datasets"].values())
    row("TOTAL", n_cases, r["total"]["ours"], r["total"]["urlextract"])
    print()
    print(f"ours / urlextract: recall x{r['ratios']['recall']:.2f}, "
          f"precision x{r['ratios']['precision']:.2f}")
    u = r["unwrap"]
    print(f"unwrap (url_guard_unwrap_cases.json): ours {u['ours_correct']}/{u['cases']} "
          f"({u['ours_accuracy']:.0%}); urlextract: {u['urlextract']}")
    w = r["normalize_vs_whatwg"]
    if w["cases"]:
        print(f"normalize_url vs WHATWG urltestdata (http/https/ftp): {w['agree']}/{w['cases']} "
              f"agree ({w['rate']:.1%})")
    for name, s in r["speed_texts_per_second"].items():
        print(f"speed [{name}, {s['texts']} texts]: ours {s['ours']:,.0f} texts/s, "
              f"urlextract {s['urlextract']:,.0f} texts/s, ratio x{s['ratio']:.1f}")
    if show_misses:
        for tool, items in r["misses"].items():
            print(f"\n{tool} misses/false positives ({len(items)}):")
            for m in items:
                print(f"  [{m['dataset']}] {m['text']!r}\n      expected={m['expected']} found={m['found']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus",
                    help="corpus root (default: ../shared/corpus from the project root)")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--misses", action="store_true", help="list every case a tool got wrong")
    args = ap.parse_args(argv)
    _no_network()
    result = run(args.corpus, args.repeat)
    if args.json:
        if not args.misses:
            result.pop("misses")
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print_report(result, args.misses)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

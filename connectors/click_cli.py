"""``tap365 check-url URL... [--json]``: the click-time analysis, outside the redirector.

Runs exactly what the redirector runs when it has no fresh verdict
(:meth:`tap_core.click.analyze.ClickAnalyzer.analyze` through the safe fetcher) and prints one
JSON line per URL: ``{url, verdict, reasons, final_url, fetched}`` (a public contract).
Hook it up with ``connectors.click_cli.register(sub)`` in ``connectors/cli.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

# Every tap365 command registers check-url: what only checking a URL needs (the fetcher with
# httpx, the renderer, the policy model) loads when it runs.
if TYPE_CHECKING:
    from connectors.click_service import ClickSettings
    from tap_core.click.analyze import ClickAnalysis
    from tap_core.policy import Policy
    from tap_core.urls.intel import IntelIndex


def register(subparsers: Any) -> None:
    """Add ``check-url`` to the ``tap365`` sub-command parsers."""
    p = subparsers.add_parser("check-url", help="analyse URLs as the click-time redirector would")
    p.add_argument("urls", nargs="+", metavar="URL")
    p.add_argument("--json", action="store_true", help="one JSON object per URL (the default output too)")
    p.add_argument("--policy", metavar="FILE", help="policy file (YAML or JSON) for the thresholds")
    p.add_argument("--intel", nargs="+", metavar="FILE", help="threat intelligence feeds")
    p.add_argument("--details", action="store_true", help="add each finding's reason and evidence")
    p.set_defaults(func=cmd_check_url)


def record(analysis: ClickAnalysis, details: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "url": analysis.url,
        "verdict": analysis.verdict.value,
        "reasons": analysis.reasons,
        "final_url": analysis.final_url,
        "fetched": analysis.fetched,
    }
    if details:
        out["score"] = analysis.score
        out["error"] = analysis.error
        out["findings"] = [f.model_dump(mode="json", exclude_none=True) for f in analysis.findings]
    return out


async def check_urls(
    urls: Sequence[str],
    *,
    settings: ClickSettings,
    policy: Policy,
    intel: IntelIndex | None = None,
    details: bool = False,
) -> list[dict[str, Any]]:
    from connectors.click_service import default_analyzer
    from connectors.fetcher import SafeFetcher
    from connectors.renderer import ChromiumRenderer
    from tap_core.click.analyze import ClickAnalysis
    from tap_core.model.findings import Verdict

    # The redirector's analyzer: the safe fetcher and, when Chromium is found, the renderer.
    analyzer = default_analyzer(settings)
    out: list[dict[str, Any]] = []
    try:
        for url in urls:
            try:
                async with asyncio.timeout(settings.click_analysis_timeout_seconds + 1) as budget:
                    analysis = await analyzer.analyze(
                        url,
                        intel=intel,
                        thresholds=policy.url.thresholds,
                        tenant_domains=policy.internal_domains,
                        deadline=budget.when(),
                    )
            except TimeoutError:
                analysis = ClickAnalysis(url=url, verdict=Verdict.CLEAN, score=0.0, error="timeout")
            out.append(record(analysis, details))
    finally:
        if isinstance(analyzer.renderer, ChromiumRenderer):
            await analyzer.renderer.aclose()
        if isinstance(analyzer.fetcher, SafeFetcher):
            await analyzer.fetcher.aclose()
    return out


def cmd_check_url(args: argparse.Namespace, settings: object = None) -> int:
    from connectors.click_service import ClickSettings
    from tap_core.policy import Policy, PolicyError, parse_policy

    click_settings = ClickSettings()
    policy = Policy()
    if args.policy:
        try:
            with open(args.policy, "rb") as f:
                policy = parse_policy(f.read(), name=args.policy)
        except (OSError, PolicyError) as exc:
            print(f"tap365 check-url: {exc}", file=sys.stderr)
            return 2
    intel = None
    if args.intel:
        from connectors.intel_feeds import FeedLoadError, load_intel

        try:
            intel = load_intel(args.intel)
        except FeedLoadError as exc:
            print(f"tap365 check-url: {exc}", file=sys.stderr)
            return 2
    for line in asyncio.run(
        check_urls(args.urls, settings=click_settings, policy=policy, intel=intel, details=args.details)
    ):
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tap365")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

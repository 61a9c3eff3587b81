"""The ``tap365`` command line.

Exit codes: 0 when the command did its work (a scan that found threats still exits 0),
1 when a check failed (``decode --verify`` on a bad link), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from connectors.attachment_engine import EngineConfigError, build_attachment_engine
from connectors.keys import KeyConfigError, link_codec
from connectors.logs import quiet_third_party_loggers
from connectors.settings import Settings
from tap_core.parsing.mime import looks_like_rfc822, parse_eml, split_mbox
from tap_core.pipeline import Pipeline, TenantContext
from tap_core.policy import Policy, PolicyError, parse_policy
from tap_core.reputation.registration import DomainRegistry
from tap_core.urls.links import LinkError, decode_link

_SKIP_NAMES = {"readme", "readme.md", "license", "licence", "cmds", "manifest.tsv"}


class UsageError(Exception):
    """A problem with how the command was called; printed and exit 2."""


def _iter_mail_files(paths: Sequence[str]) -> Iterator[Path]:
    """``.eml`` files given directly, and every mail-looking file under given folders."""
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if not f.is_file() or f.name.startswith(".") or f.name.lower() in _SKIP_NAMES:
                    continue
                if f.suffix.lower() == ".eml":
                    yield f
                    continue
                try:
                    with f.open("rb") as fh:
                        head = fh.read(512)
                except OSError:
                    continue
                if looks_like_rfc822(head):
                    yield f
        elif p.exists():
            yield p
        else:
            raise UsageError(f"no such file or folder: {p}")


def _load_policy(path: str | None, settings: Settings) -> Policy:
    path = path or settings.policy_file
    if not path:
        return Policy()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read policy file {path}: {exc.strerror}") from exc
    try:
        return parse_policy(data, name=path)
    except PolicyError as exc:
        raise UsageError(str(exc)) from exc


def _pipeline(args: argparse.Namespace, settings: Settings) -> Pipeline:
    policy = _load_policy(args.policy, settings)
    feeds = list(args.intel or [])
    if settings.intel_feeds:
        feeds += [f.strip() for f in settings.intel_feeds.split(",") if f.strip()]
    intel = None
    if feeds:
        # Feeds bring the blob store's SDK (a third of a short scan's start) only when given.
        from connectors.intel_feeds import FeedLoadError, load_intel

        try:
            intel = load_intel(feeds)
        except FeedLoadError as exc:
            raise UsageError(str(exc)) from exc
    try:
        codec = link_codec(settings)
        engine = build_attachment_engine(settings)
    except (KeyConfigError, EngineConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    tenant_id = getattr(args, "tenant", None) or settings.default_tenant_id
    tenant = TenantContext(tenant_id=tenant_id, registry=_registry(args, settings))
    return Pipeline(policy, intel=intel, codec=codec, attachment_engine=engine, tenant=tenant)


def _registry(args: argparse.Namespace, settings: Settings) -> DomainRegistry | None:
    """``scan --rdap``: the service's RDAP lookups (``TAP365_RDAP_BOOTSTRAP``, budget, rate
    limits), cached in memory for this run only. Without the flag the scan stays offline."""
    if not getattr(args, "rdap", False):
        return None
    from connectors.rdap import build_registry

    try:
        return build_registry(settings, None, enabled=True)
    except ValueError as exc:  # a bootstrap file that cannot be used says why (BootstrapError)
        raise UsageError(str(exc)) from exc


def scan_path(pipeline: Pipeline, path: Path, tenant_id: str) -> list[dict[str, Any]]:
    """Scan one file (an mbox gives one record per message); a file that cannot be read gives
    a record with ``error``, not a crash."""
    start = time.perf_counter()
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [{"source": str(path), "verdict": None, "action": None, "urls": [], "attachments": [],
                 "impersonation": {}, "error": f"cannot read: {exc.strerror}",
                 "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}]
    messages = split_mbox(data)
    if len(messages) == 1:
        return [scan_one(pipeline, messages[0], str(path), tenant_id)]
    return [scan_one(pipeline, m, f"{path}#{i + 1}", tenant_id) for i, m in enumerate(messages)]


def scan_one(pipeline: Pipeline, data: bytes, source: str, tenant_id: str) -> dict[str, Any]:
    """Scan one message's bytes into the ``tap365 scan --json`` record."""
    start = time.perf_counter()
    record: dict[str, Any] = {"source": source}
    try:
        message = parse_eml(data, source, pipeline.policy.limits)
        decision = pipeline.run(message, tenant_id=tenant_id)
        out = decision.to_json()
        record.update(
            subject=message.subject,
            verdict=out["verdict"],
            action=out["action"],
            score=out["score"],
            reasons=out["reasons"],
            urls=out["urls"],
            attachments=out["attachments"],
            impersonation=out["impersonation"],
            pipelines=out["pipelines"],
            needs_sandbox=out["needs_sandbox"],
            url_score=out["url_score"],
            findings=out["findings"],
            defects=message.defects,
            rewrite_skipped=out["rewrite_skipped"],
            error=None,
        )
    except Exception as exc:  # one bad message must never stop a scan of many
        record.update(verdict=None, action=None, score=None, urls=[], attachments=[], impersonation={},
                      error=f"{exc.__class__.__name__}: {exc}")
    record["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 2)
    return record


def _progress(total: int, enabled: bool) -> Any:  # a tqdm bar, or None
    if enabled:
        from tqdm import tqdm

        return tqdm(total=total, unit="msg", file=sys.stderr, leave=False)
    return None


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    verdicts = Counter(r.get("verdict") or "error" for r in records)
    actions = Counter(r.get("action") or "error" for r in records)
    n = len(records) or 1
    flagged = verdicts["suspicious"] + verdicts["malicious"]
    held = actions["hold"] + actions["quarantine"]
    elapsed = sorted(r["elapsed_ms"] for r in records) or [0.0]
    return {
        "messages": len(records),
        "verdicts": dict(verdicts),
        "actions": dict(actions),
        "flagged_rate": round(flagged / n, 4),
        "held_or_quarantined_rate": round(held / n, 4),
        "errors": verdicts["error"],
        "urls": sum(len(r.get("urls") or []) for r in records),
        "urls_rewritten": sum(1 for r in records for u in r.get("urls") or [] if u.get("rewritten")),
        "p50_ms": elapsed[len(elapsed) // 2],
        "p95_ms": elapsed[min(len(elapsed) - 1, int(len(elapsed) * 0.95))],
    }


def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    pipeline = _pipeline(args, settings)
    # What the start built (modules, models, rules) lives as long as the scan: kept out of the
    # cyclic collector's sight, its full collections no longer walk it again and again.
    gc.freeze()
    files = list(_iter_mail_files(args.paths))
    tenant = args.tenant or settings.default_tenant_id
    bar = _progress(len(files), sys.stderr.isatty() and not args.no_progress)
    records: list[dict[str, Any]] = []
    for path in files:
        for record in scan_path(pipeline, path, tenant):
            records.append(record)
            if args.json:
                print(json.dumps(record, ensure_ascii=False), flush=False)
            elif not args.summary_only:
                print(f"{record.get('verdict') or 'ERROR':<10} {record.get('action') or '-':<10} "
                      f"{len(record.get('urls') or []):>3} urls  {record['source']}"
                      + (f"  [{record['error']}]" if record.get("error") else ""))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    summary = summarise(records)
    if args.json:
        sys.stdout.flush()
    else:
        print(_format_summary(summary))
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=2))
    return 0


def _format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"messages: {s['messages']}  errors: {s['errors']}",
        "verdicts: " + ", ".join(f"{k}={v}" for k, v in sorted(s["verdicts"].items())),
        "actions:  " + ", ".join(f"{k}={v}" for k, v in sorted(s["actions"].items())),
        f"flagged (suspicious or malicious): {s['flagged_rate']:.1%}   "
        f"held or quarantined: {s['held_or_quarantined_rate']:.1%}",
        f"urls: {s['urls']} (rewritten {s['urls_rewritten']})   "
        f"p50 {s['p50_ms']:.1f} ms  p95 {s['p95_ms']:.1f} ms per message",
    ]
    return "\n".join(lines)


def cmd_scan_file(args: argparse.Namespace, settings: Settings) -> int:
    """Static analysis of files given directly (attachments saved to disk, samples)."""
    from tap_core.attachments import scan_file

    try:
        engine = build_attachment_engine(settings)
    except EngineConfigError as exc:
        raise UsageError(str(exc)) from exc
    paths = [Path(p) for p in args.files]
    for path in paths:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
    sandbox = None
    if args.detonate:  # the configured sandboxes, as the service runs a held message's files
        from connectors.sandbox.dispatcher import LocalSandbox

        sandbox = LocalSandbox.from_environment(settings=settings)
    try:
        for path in paths:
            start = time.perf_counter()
            try:
                data = path.read_bytes()
                report = scan_file(path.name, data, engine, passwords=args.password or ())
                if sandbox is not None:
                    from connectors.service import on_demand
                    from connectors.service.detonation import detonate

                    step = detonate(sandbox, path.name, data, on_demand.DEFAULT_TIMEOUT_SECONDS)
                    report = on_demand.merge(report, step)
                report["source"] = str(path)
                report["error"] = None
            except OSError as exc:
                report = {"source": str(path), "verdict": None, "reasons": [], "children": [],
                          "error": f"cannot read: {exc.strerror}"}
            report["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 2)
            if args.json:
                print(json.dumps(report, ensure_ascii=False))
            else:
                print(f"{report.get('verdict') or 'ERROR':<10} {report.get('type', '-'):<14} {path}"
                      + (f"  [{', '.join(report['reasons'])}]" if report.get("reasons") else ""))
    finally:
        if sandbox is not None:
            sandbox.close()
    return 0


def cmd_decode(args: argparse.Namespace, settings: Settings) -> int:
    status = 0
    codec = None
    if args.verify:
        try:
            codec = link_codec(settings)
        except (KeyConfigError, ValueError) as exc:
            raise UsageError(str(exc)) from exc
    for link in args.links:
        original = decode_link(link)
        if original is None:
            print(f"not a rewritten link: {link}", file=sys.stderr)
            status = 1
            continue
        if codec is None:
            print(original)
            continue
        try:
            verified = codec.verify(link)
        except LinkError as exc:
            print(f"{original}\tINVALID: {exc}")
            status = 1
            continue
        print(f"{original}\tvalid (key {verified.kid})")
    return status


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """The service end to end: Azurite, the simulated tenant, the local host, real sample mail."""
    from connectors.devstack.demo import run_demo

    if args.mail and not Path(args.mail).is_dir():
        raise UsageError(f"--mail {args.mail}: not a folder")
    report = Path(args.report) if args.report else None
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
    chaos = None
    if args.chaos:
        from connectors.devstack.chaos import ChaosOptions

        chaos = ChaosOptions(seed=args.chaos_seed)
    return run_demo(mail=Path(args.mail) if args.mail else None, corpus=Path(args.corpus),
                    report_path=report, limit=args.limit,
                    timeout=args.timeout if args.timeout is not None else 1800.0 if chaos else 600.0,
                    clicks=args.clicks,
                    rate=args.rate, chaos=chaos,
                    screenshots=Path(args.screenshots) if args.screenshots else None, keep=args.keep)


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Check a tenant's set-up: token, roles granted vs needed, subscriptions, hidden folders."""
    from connectors.graph.config import GraphSettings
    from connectors.graph.doctor import feed_health, format_report, intel_store_from_env, run_doctor

    graph = GraphSettings()
    try:
        graph.check()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    report = run_doctor(graph, args.tenant, args.mailbox or None, first_users=args.first_users)
    if settings.intel_feeds.strip():  # the feeds' last refresh, as the service stored it
        feed_health(report, settings.intel_feeds, intel_store_from_env())
    if args.json:
        print(json.dumps({"ok": report.ok, **dataclasses.asdict(report)}, default=str))
    else:
        print(format_report(report))
    return 0 if report.ok else 1


def cmd_digests(args: argparse.Namespace, settings: Settings) -> int:
    """Send today's daily digests now, as the ``daily_digests`` timer does (once per person and
    UTC day: a digest sent today, by the timer or an earlier run, is not sent again)."""
    import asyncio

    from connectors.service.digests import send_digests
    from connectors.service.runtime import Runtime

    if not settings.admin_notify_from:
        raise UsageError("set TAP365_ADMIN_NOTIFY_FROM: the mailbox the digests are sent from")
    run = asyncio.run(send_digests(Runtime.create(settings)))
    print(json.dumps(dataclasses.asdict(run)))
    return 1 if run.failed else 0


def cmd_train_pages(args: argparse.Namespace, settings: Settings) -> int:
    """Learn the page scorer from labelled pages and write it with its model card."""
    from connectors.page_training import run_page_training

    corpus = Path(args.corpus)
    if not corpus.is_dir():
        raise UsageError(f"--corpus {corpus}: not a folder (it holds train/pages-* and pages/)")
    try:
        run_page_training(corpus, Path(args.out))
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Learn the message model from labelled mail and write it with its model card."""
    from connectors.training import run_training

    corpus = Path(args.corpus)
    if not corpus.is_dir():
        raise UsageError(f"--corpus {corpus}: not a folder (it holds phish/, ham-2002/, ham-lists/)")
    try:
        run_training(corpus, Path(args.out), workers=args.workers)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tap365",
        description="Targeted attack protection for Microsoft 365: scan mail and files, check and "
        "decode links, run the service.",
        epilog="Exit codes: 0 the command did its work (threats found included), 1 a check failed, "
        "2 a usage error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="scan .eml files and folders")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--json", action="store_true", help="one JSON object per message (JSON Lines)")
    scan.add_argument("--policy", metavar="FILE", help="policy file (YAML or JSON)")
    scan.add_argument("--intel", nargs="+", metavar="FILE", help="threat intelligence feeds")
    scan.add_argument("--tenant", help="tenant id put in rewritten links")
    scan.add_argument("--summary", metavar="FILE", help="also write the summary as JSON")
    scan.add_argument("--summary-only", action="store_true", help="print only the summary")
    scan.add_argument("--no-progress", action="store_true", help="no progress bar")
    scan.add_argument("--rdap", action="store_true",
                      help="look up the registration dates of the sender's and the links' domains "
                           "through RDAP (TAP365_RDAP_BOOTSTRAP names the servers); off by default: "
                           "the scan stays offline")
    scan.set_defaults(func=cmd_scan)

    scan_file = sub.add_parser("scan-file", help="static analysis of files (attachments)")
    scan_file.add_argument("files", nargs="+", metavar="FILE")
    scan_file.add_argument("--json", action="store_true", help="one JSON object per file")
    scan_file.add_argument("--password", action="append", metavar="PW",
                           help="password to try on encrypted archives and documents (repeatable)")
    scan_file.add_argument("--detonate", action="store_true",
                           help="also run the files in the configured sandboxes (local emulators; "
                                "CAPE when TAP365_SANDBOX_URL is set) and merge their behaviour")
    scan_file.set_defaults(func=cmd_scan_file)

    decode = sub.add_parser("decode", help="print the original destination of rewritten links")
    decode.add_argument("links", nargs="+", metavar="URL")
    decode.add_argument("--verify", action="store_true", help="also check the signature")
    decode.set_defaults(func=cmd_decode)

    demo = sub.add_parser("demo", help="run the service end to end on sample mail and report")
    demo.add_argument("--corpus", default="../shared/corpus",
                      help="evaluation corpus (phishing/real and ham/hard_ham are delivered; "
                           "ham/easy_ham too when --limit asks for more)")
    demo.add_argument("--mail", metavar="DIR", help="deliver this folder of .eml files instead")
    demo.add_argument("--report", metavar="FILE", help="write the JSON report here (and FILE.html)")
    demo.add_argument("--limit", type=int, help="deliver at most this many messages")
    demo.add_argument("--timeout", type=float, default=None,
                      help="seconds to wait for processing (default 600; 1800 with --chaos: Graph holds "
                           "notifications to a slow endpoint back for 10 minutes)")
    demo.add_argument("--clicks", type=int, default=5, help="rewritten links to click")
    demo.add_argument("--rate", type=float, default=5.0,
                      help="messages delivered per second (0: all at once, a burst)")
    demo.add_argument("--chaos", action="store_true",
                      help="run under faults: Graph 429/5xx/time-outs, duplicated and dropped "
                           "notifications, the host killed and restarted, Azurite restarted; then "
                           "check every message's effects in the tenant")
    demo.add_argument("--chaos-seed", type=int, default=1, help="seed of the faults and of the kills")
    demo.add_argument("--screenshots", metavar="DIR",
                      help="after the report, a screenshot of each console page here (headless Chromium)")
    demo.add_argument("--keep", action="store_true",
                      help="keep the stack running after the report (console URL printed) until Ctrl-C")
    demo.set_defaults(func=cmd_demo)

    doctor = sub.add_parser("doctor", help="check a tenant: token, permissions, subscriptions, folders")
    doctor.add_argument("--tenant", required=True, help="tenant id to check")
    doctor.add_argument("--mailbox", action="append", metavar="UPN", help="mailbox to check (repeatable)")
    doctor.add_argument("--first-users", type=int, default=5, help="mailboxes to check when none given")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=cmd_doctor)

    digests = sub.add_parser("digests", help="send today's held-mail digests now (one a person a day)")
    digests.set_defaults(func=cmd_digests)

    train = sub.add_parser("train", help="learn the message model's weights from labelled mail")
    train.add_argument("--corpus", default="../shared/corpus/train",
                       help="folder with phish/, ham-2002/ and ham-lists/ (default: %(default)s)")
    train.add_argument("--out", default="tap_core/data/detect",
                       help="where the model, its card and sample go (default: %(default)s)")
    train.add_argument("--workers", type=int, help="processes extracting evidence (default: up to 4)")
    train.set_defaults(func=cmd_train)

    train_pages = sub.add_parser("train-pages", help="learn the page scorer's weights from labelled pages")
    train_pages.add_argument("--corpus", default="../shared/corpus",
                             help="folder with train/pages-* and pages/ (default: %(default)s)")
    train_pages.add_argument("--out", default="tap_core/data/detect",
                             help="where the page model, its card and sample go (default: %(default)s)")
    train_pages.set_defaults(func=cmd_train_pages)

    from connectors.click_cli import register as register_click
    from connectors.localhost.cli import register as register_serve

    register_serve(sub)
    register_click(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits 2 on a usage error
    quiet_third_party_loggers()
    settings = Settings()
    try:
        return int(args.func(args, settings))
    except UsageError as exc:
        print(f"tap365 {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

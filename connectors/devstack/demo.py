"""``tap365 demo``: the whole service end to end on this machine.

Starts Azurite, the simulated tenant and the local Functions host, onboards the tenant through
the consent callback (subscriptions are created through the real validation handshake),
delivers real sample mail into the mailboxes, waits until every message is processed, checks
the tenant itself (m365sim counts every body PATCH, category write and move per message), clicks
some rewritten links, prints a summary, writes a JSON and an HTML report, and stops everything.
``--chaos`` runs it under faults (``connectors.devstack.chaos``). Exits non-zero when a message
was lost (never processed, or an effect the journal records never reached the tenant), got an
effect twice, or is not in its final folder.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from connectors.devstack.chaos import ChaosMonkey, ChaosOptions
from connectors.devstack.stack import HostProcess, SimClient, Stack, running_stack
from connectors.storage.config import StorageConfig
from tap_core.parsing.mime import looks_like_rfc822, split_mbox

BUNDLED = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "mail"
CORPUS_SETS = ("phishing/real", "ham/hard_ham")
#: Added when --limit asks for more mail than CORPUS_SETS hold (e.g. a 300-message chaos soak).
MORE_SETS = ("ham/easy_ham",)
_LINK_RE = re.compile(r'href="(http://127\.0\.0\.1:\d+/api/r/1\.[^"]+)"')


@dataclass
class MessageReport:
    source: str
    mailbox: str
    internet_message_id: str = ""
    verdict: str | None = None
    action: str | None = None
    final_folder: str | None = None
    graph_requests: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    #: What the simulated tenant itself saw (m365sim's /_sim/effects), not the service's journal.
    tenant_folder: str | None = None
    body_patches: int = 0
    category_writes: int = 0
    moves: dict[str, int] = field(default_factory=dict)
    attempts: int = 0  # journal attempts: > 1 after a crash or a failed attempt
    doubled: bool = False
    untouched: str | None = None  # why the tenant shows the message unprocessed or effect-less
    delivered_at: float = field(default=0.0, repr=False)
    remediated_at: float | None = field(default=None, repr=False)  # the journal's done time (epoch s)
    immutable_id: str = field(default="", repr=False)
    journal: dict[str, Any] = field(default_factory=dict, repr=False)


def collect_mail(mail: Path | None, corpus: Path | None, limit: int | None = None) -> list[tuple[str, bytes]]:
    """Mail to deliver: ``mail``'s files, else the corpus sets (``MORE_SETS`` too when ``limit``
    asks for more than ``CORPUS_SETS`` hold), else the bundled samples."""
    out: list[tuple[str, bytes]] = []
    if mail is not None:
        out = _read_mail([mail])
    elif corpus is not None and corpus.is_dir():
        out = _read_mail([corpus / s for s in CORPUS_SETS if (corpus / s).is_dir()])
        if limit and len(out) < limit:
            out += _read_mail([corpus / s for s in MORE_SETS if (corpus / s).is_dir()])
    if not out and mail is None:
        out = _read_mail([BUNDLED])
    return out[:limit] if limit else out


def _read_mail(folders: list[Path]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
            data = path.read_bytes()
            if path.suffix.lower() != ".eml" and not looks_like_rfc822(data[:512]):
                continue
            parts = split_mbox(data)
            out += [(f"{path}#{i + 1}" if len(parts) > 1 else str(path), p) for i, p in enumerate(parts)]
    return out


def _unique_id(raw: bytes, n: int) -> tuple[bytes, str]:
    """Give each delivery its own Message-ID, so repeated samples stay distinct."""
    new_id = f"<demo-{n}-{int(time.time() * 1000)}@tap365.demo>"
    header_end = raw.find(b"\n\n") if b"\n\n" in raw else raw.find(b"\r\n\r\n")
    head = raw[: header_end if header_end >= 0 else len(raw)]
    head = re.sub(rb"(?im)^message-id:.*(\r?\n[ \t].*)*\r?\n?", b"", head)
    nl = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    return f"Message-ID: {new_id}".encode() + nl + head + raw[len(head) :], new_id


def run_demo(
    *,
    mail: Path | None = None,
    corpus: Path | None = None,
    report_path: Path | None = None,
    html_path: Path | None = None,
    limit: int | None = None,
    timeout: float = 600.0,
    clicks: int = 5,
    rate: float = 5.0,
    chaos: ChaosOptions | None = None,
    screenshots: Path | None = None,
    keep: bool = False,
) -> int:
    """``screenshots``: a folder for a PNG of each console page; ``keep``: leave the stack
    running after the report, until Ctrl-C."""
    messages = collect_mail(mail, corpus, limit)
    print(f"tap365 demo: {len(messages)} messages; starting Azurite, the simulated tenant and the local host")
    monkey: ChaosMonkey | None = None
    chaos_env = chaos.service_env() if chaos else None
    visibility = chaos.processing_visibility if chaos else None
    with running_stack(extra_env=chaos_env, host_process=chaos is not None,
                       processing_visibility=visibility) as stack:
        stack.onboard()
        users = stack.users
        print(
            f"onboarded tenant {stack.tenant_id}: {len(users)} mailboxes subscribed "
            f"(functions at {stack.functions_url})"
        )
        if chaos is not None:
            stack.sim.faults(**chaos.faults())
            stack.sim.control("POST", "/config", json={"slow_endpoint_policy": chaos.slow_endpoint_policy})
            delivering = len(messages) / rate if rate > 0 else 0.0
            monkey = ChaosMonkey(stack, chaos, chaos.kill_count(len(messages)), window=delivering + 15.0)
            print(f"chaos: seed {chaos.seed}, {monkey.kills} host kills and one Azurite restart "
                  f"within {monkey.window:.0f}s, Graph and notification faults on")
            monkey.start()
        reports = _deliver(stack, messages, users, rate)
        if monkey is not None:
            monkey.finish()  # every planned kill and restart happens while mail is processed
        _wait(stack, reports, timeout)
        if monkey is not None:
            monkey.stop()
            stack.sim.faults()  # the checks below read the tenant, not a faulty one
        check_tenant(stack.sim, reports)
        clicked = _click(stack, users, clicks)
        totals = _totals(reports, clicked)
        totals["rdap"] = _rdap(stack, totals["processed"])
        totals["siem"] = siem_totals(stack)
        if monkey is not None:
            totals["faults"] = {**_fired(stack), **monkey.counts()}
            totals["notification_delivery"] = _notification_delivery(stack)
            if monkey.errors:
                totals["chaos_errors"] = monkey.errors
            if report_path is not None and isinstance(stack.host, HostProcess):
                # The host's own log, across its restarts: where to look when a message went wrong.
                shutil.copy(stack.host.log_path, report_path.with_suffix(".host.log"))
        _print(reports, totals)
        document: dict[str, Any] = {
            "generated_at": datetime.now(UTC).isoformat(),
            "totals": totals,
            "messages": [_public(r) for r in reports],
            "clicks": clicked,
        }
        if chaos is not None and monkey is not None:
            document["chaos"] = {"seed": chaos.seed, "profile": chaos.faults(), "events": monkey.events,
                                 "processing_visibility_s": chaos.processing_visibility,
                                 "claim_lease_s": chaos.claim_lease_seconds,
                                 "slow_endpoint_policy": chaos.slow_endpoint_policy}
        if report_path is not None:
            report_path.write_text(json.dumps(document, indent=1, ensure_ascii=False))
            print(f"JSON report: {report_path}")
            html_file = html_path or report_path.with_suffix(".html")
            html_file.write_text(render_html(document))
            print(f"HTML report: {html_file}")
        # After the report, while the stack still runs: the console, screenshotted and kept open.
        show_console(stack, screenshots=screenshots, keep=keep)
    failed = totals["lost"] + totals["doubled_effects"] + totals["delivery_failed"]
    failed += totals["not_in_final_folder"] + len(totals.get("chaos_errors", []))
    return 1 if failed else 0


def show_console(stack: Stack, *, screenshots: Path | None, keep: bool) -> None:
    """Screenshot the console's pages into ``screenshots`` (headless Chromium), print its URL,
    and with ``keep`` leave everything running until Ctrl-C."""
    from connectors.devstack.browser import BrowserUnavailable, screenshot_console

    url = f"{stack.functions_url}/api/console/"
    if screenshots is not None:
        try:
            shots = screenshot_console(url, screenshots)
            print(f"console screenshots: {len(shots)} pages in {screenshots}/")
        except BrowserUnavailable as exc:
            print(f"no console screenshots: {exc}")
    who = stack.env.get("TAP365_CONSOLE_DEV_IDENTITY", "").split(",", 1)[0]
    print(f"console: {url} (signed in from this machine as {who})")
    if not keep:
        return
    print("the stack keeps running (tap365 demo --keep); press Ctrl-C to stop it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping the stack")


def _public(r: MessageReport) -> dict[str, Any]:
    data = asdict(r)
    for private in ("delivered_at", "remediated_at", "immutable_id", "journal"):
        data.pop(private)
    return data


def _fired(stack: Stack) -> dict[str, int]:
    """How many of each fault m365sim injected (Graph and notifications)."""
    return {k: int(v) for k, v in sorted(stack.sim.stats()["faults_fired"].items()) if v}


def _notification_delivery(stack: Stack) -> dict[str, Any]:
    """How Graph's deliveries to the service went (retries, slow answers, endpoint penalties)."""
    notifications = stack.sim.stats()["notifications"]
    return {**notifications["totals"], "endpoints": notifications["endpoints"]}


def check_tenant(sim: SimClient, reports: list[MessageReport]) -> None:
    """Compare each message's journal with what Graph applied to it, as m365sim counted.

    Doubled: more than one body PATCH, category write, or move to the same folder. Untouched:
    never processed, or the journal records an effect the tenant never received."""
    seen = sim.control("GET", "/effects")["messages"]
    for r in reports:
        if r.error and "delivery" in r.error:
            continue
        tenant = seen.get(r.immutable_id)
        if tenant is None:
            r.untouched = "not in the tenant any more"
            continue
        r.tenant_folder = tenant["folder"]
        r.body_patches, r.category_writes = tenant["body_patches"], tenant["category_writes"]
        r.moves = dict(tenant["moves"])
        r.doubled = r.body_patches > 1 or r.category_writes > 1 or any(n > 1 for n in r.moves.values())
        data = r.journal
        if r.verdict is None:
            r.untouched = r.error or "never processed"
        elif data.get("body_patched", {}).get("applied") and r.body_patches == 0:
            r.untouched = "journal says body patched; the tenant got no body PATCH"
        elif "categorized" in data and r.category_writes == 0:
            r.untouched = "journal says categorized; the tenant got no category write"
        elif "moved" in data and not r.moves:
            r.untouched = "journal says moved; the tenant got no move"


def _in_final_folder(r: MessageReport) -> bool:
    """The tenant has the message where the service says it left it (or moved it later)."""
    if r.verdict is None or r.tenant_folder is None:
        return False
    expected = (r.final_folder or "").removesuffix(" (hidden)")
    return r.tenant_folder == expected or r.tenant_folder in r.moves


def _deliver(
    stack: Stack, messages: list[tuple[str, bytes]], users: list[str], rate: float
) -> list[MessageReport]:
    """Deliver at ``rate`` messages per second (0: all at once), as mail arrives in a tenant."""
    reports: list[MessageReport] = []
    start = time.monotonic()
    for n, (source, raw) in enumerate(messages):
        if rate > 0:
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
        mailbox = users[n % len(users)]
        raw, internet_id = _unique_id(raw, n)
        report = MessageReport(source=source, mailbox=mailbox, internet_message_id=internet_id)
        try:
            delivered = stack.sim.deliver(mailbox, raw)
            report.immutable_id = str(delivered.get("immutableId") or "")
            report.delivered_at = time.time()
        except requests.RequestException as exc:
            report.error = f"delivery failed: {exc}"
        reports.append(report)
    return reports


#: Each sweep of _wait reads the journal until this many messages were found unfinished, oldest
#: first (the latencies come from the journal's own times, not from when the sweep saw them).
_WAIT_WINDOW = 8


def _wait(stack: Stack, reports: list[MessageReport], timeout: float) -> None:
    from azure.core.exceptions import AzureError

    from connectors.storage.azure import AzureStores

    stores = AzureStores.open(StorageConfig.from_env(), create=False)
    pending = [r for r in reports if r.immutable_id and r.error is None]
    folder_names: dict[tuple[str, str], str] = {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        still: list[MessageReport] = []
        unfinished = 0
        for n, r in enumerate(pending):
            if unfinished >= _WAIT_WINDOW:
                still += pending[n:]  # looked at in a later sweep: every read here competes
                break                 # with the service under measurement (storage, this process)
            try:
                entry = stores.journal.get(stack.tenant_id, r.immutable_id)
                done = entry is not None and entry.done
                verdict = stores.verdicts.get_verdict(stack.tenant_id, r.immutable_id) if done else None
            except AzureError:  # storage restarting (a chaos run): look again shortly
                still += pending[n:]
                break
            if entry is None or not done:
                still.append(r)
                unfinished += 1
                continue
            r.journal, r.attempts = dict(entry.data), entry.attempt
            r.remediated_at = entry.updated_at.timestamp()
            r.latency_ms = round((r.remediated_at - r.delivered_at) * 1000, 1)
            if verdict is not None:
                r.verdict, r.action = verdict.verdict, verdict.action
                r.final_folder = _folder_name(
                    stack, folder_names, r.mailbox, str(verdict.details.get("final_folder", ""))
                )
                r.graph_requests = int(verdict.details.get("graph_requests", 0))
            elif entry.data.get("done", {}).get("not_found"):
                r.error = "message disappeared before processing"
        pending = still
        if pending:
            time.sleep(0.25)
    for r in pending:
        r.error = "not processed before the time-out"


def _folder_name(stack: Stack, names: dict[tuple[str, str], str], mailbox: str, folder_id: str) -> str:
    """A folder's display name, from one listing per mailbox (cached in ``names``)."""
    key = (mailbox, folder_id)
    if key not in names:
        for folder in stack.sim.mailbox(mailbox)["folders"]:
            names[(mailbox, folder["id"])] = folder["displayName"] + (
                " (hidden)" if folder["isHidden"] else ""
            )
    return names.get(key, folder_id[:12])


def _click(stack: Stack, users: list[str], wanted: int) -> list[dict[str, Any]]:
    """Click rewritten links as a user would (no redirects followed: we look at the answer)."""
    out: list[dict[str, Any]] = []
    if wanted <= 0:
        return out  # --clicks 0
    for upn in users:
        for folder in stack.sim.mailbox(upn)["folders"]:
            for message in folder["messages"]:
                body = json.dumps(message)
                for link in _LINK_RE.findall(body.replace('\\"', '"'))[:1]:
                    link = html.unescape(link)
                    r = requests.get(
                        link,
                        allow_redirects=False,
                        timeout=30,
                        headers={"User-Agent": "Mozilla/5.0 (tap365 demo)", "Accept-Language": "en"},
                    )
                    out.append(
                        {
                            "link": link[:200],
                            "status": r.status_code,
                            "location": r.headers.get("Location", "")[:200],
                        }
                    )
                    if len(out) >= wanted:
                        return out
    return out


def _totals(reports: list[MessageReport], clicked: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(r.latency_ms for r in reports if r.latency_ms is not None)
    requests_per = [r.graph_requests for r in reports if r.graph_requests is not None]
    rewritten = [r.graph_requests for r in reports if r.action == "rewrite" and r.graph_requests is not None]

    def pct(p: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else None

    delivered = [r for r in reports if not (r.error and "delivery" in r.error)]
    processed = [r for r in reports if r.verdict is not None]
    return {
        "messages": len(reports),
        "processed": len(processed),
        "delivery_failed": len(reports) - len(delivered),
        "unprocessed": sum(1 for r in delivered if r.error),
        # From the tenant itself: never processed or left untouched, and effects applied twice.
        "lost": sum(1 for r in delivered if r.untouched),
        "doubled_effects": sum(1 for r in delivered if r.doubled),
        "not_in_final_folder": sum(1 for r in delivered if not _in_final_folder(r)),
        "retried_messages": sum(1 for r in delivered if r.attempts > 1),
        "tenant_effects": {
            "body_patches": sum(r.body_patches for r in delivered),
            "category_writes": sum(r.category_writes for r in delivered),
            "moves": sum(sum(r.moves.values()) for r in delivered),
        },
        "actions": dict(Counter(r.action for r in reports if r.action)),
        "verdicts": dict(Counter(r.verdict for r in reports if r.verdict)),
        "latency_ms_p50": pct(0.5),
        "latency_ms_p95": pct(0.95),
        "throughput_msgs_per_s": _throughput(delivered, processed),
        "graph_requests_mean": round(statistics.mean(requests_per), 2) if requests_per else None,
        "graph_requests_max_rewritten": max(rewritten) if rewritten else None,
        "clicks": dict(Counter(str(c["status"]) for c in clicked)),
    }


def siem_totals(stack: Stack) -> dict[str, Any]:
    """The run as a Proofpoint TAP SIEM connector reads it (``/api/v2/siem/all``, the last hour,
    the tenant's principal): the status, ``queryEndTime`` and the events in each collection."""
    from connectors.devstack.stack import siem_login

    answer = requests.get(f"{stack.functions_url}/api/v2/siem/all", params={"sinceSeconds": "3600"},
                          auth=siem_login(stack.env), timeout=60)
    if answer.status_code != 200:
        return {"status": answer.status_code, "error": answer.text[:300]}
    body = answer.json()
    return {"status": 200, "queryEndTime": body.get("queryEndTime"),
            **{name: len(items) for name, items in body.items() if isinstance(items, list)}}


def _rdap(stack: Stack, processed: int) -> dict[str, Any] | None:
    """Domain-age lookups of the run: requests the simulated registry received, per processed
    message, and how many of the service's questions its caches answered (memory or table).
    The cache figures need the host in this process (not in a chaos run's own process)."""
    if stack.rdap is None:
        return None
    requests = int(stack.rdap.stats()["requests"])
    out: dict[str, Any] = {
        "lookups": requests,
        "lookups_per_message": round(requests / processed, 3) if processed else None,
    }
    if isinstance(stack.host, HostProcess):
        return out
    from connectors.service.runtime import get_runtime

    registry = get_runtime().registry
    if registry is None or not hasattr(registry, "stats"):
        return out
    counts = registry.stats()
    hits = int(counts["memory_hits"]) + int(counts["table_hits"])
    asked = hits + int(counts["lookups"])
    out.update(domains_asked=asked, memory_hits=counts["memory_hits"], table_hits=counts["table_hits"],
               cache_hit_rate=round(hits / asked, 4) if asked else None, failures=counts["failures"])
    return out


def _throughput(delivered: list[MessageReport], processed: list[MessageReport]) -> float | None:
    """Processed messages per second, from the first delivery to the last remediation: with
    ``--rate R`` it cannot exceed about R, so it shows whether the service kept up."""
    done = [r.remediated_at for r in processed if r.remediated_at is not None]
    starts = [r.delivered_at for r in delivered if r.delivered_at]
    if not done or not starts:
        return None
    span = max(done) - min(starts)
    # One message remediated within the clock's resolution: no rate to speak of.
    return round(len(done) / span, 2) if span > 0 else None


def _print(reports: list[MessageReport], totals: dict[str, Any]) -> None:
    header = f"{'action':<12}{'messages':>9}"
    print()
    print(header)
    print("-" * len(header))
    for action, count in sorted(totals["actions"].items()):
        print(f"{action:<12}{count:>9}")
    print("-" * len(header))
    print(
        f"processed {totals['processed']}/{totals['messages']}, lost {totals['lost']}, "
        f"doubled effects {totals['doubled_effects']}, not in final folder "
        f"{totals['not_in_final_folder']}, unprocessed {totals['unprocessed']}"
    )
    effects = totals["tenant_effects"]
    print(
        f"the tenant received {effects['body_patches']} body PATCHes, {effects['category_writes']} "
        f"category writes, {effects['moves']} moves; {totals['retried_messages']} messages took "
        "more than one attempt"
    )
    if "faults" in totals:
        print("faults fired: " + ", ".join(f"{k} {v}" for k, v in totals["faults"].items()))
    for error in totals.get("chaos_errors", []):
        print(f"chaos error: {error}")
    for r in reports:
        if r.untouched or r.doubled:
            print(f"  {r.internet_message_id} {r.mailbox}: "
                  f"{r.untouched or 'doubled'} (body {r.body_patches}, categories "
                  f"{r.category_writes}, moves {r.moves}, folder {r.tenant_folder})")
    print(
        f"latency delivery->remediation: p50 {totals['latency_ms_p50']} ms, "
        f"p95 {totals['latency_ms_p95']} ms; "
        f"throughput {totals['throughput_msgs_per_s']} messages/s"
    )
    print(
        f"Graph requests per message: mean {totals['graph_requests_mean']}, "
        f"max for a rewritten message {totals['graph_requests_max_rewritten']}"
    )
    print(f"clicks: {totals['clicks']}")
    rdap = totals.get("rdap")
    if rdap:
        hit = rdap.get("cache_hit_rate")
        line = f"domain age (RDAP): {rdap['lookups']} lookups, {rdap['lookups_per_message']} per message"
        if hit is not None:
            line += f"; cache hit rate {hit:.1%} of {rdap['domains_asked']} domains asked"
        print(line)


def render_html(document: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(str(m['source']))}</td><td>{e(str(m['mailbox']))}</td><td>{e(str(m['verdict']))}</td>"
        f"<td>{e(str(m['action']))}</td><td>{e(str(m['final_folder']))}</td><td>{e(str(m['graph_requests']))}</td>"
        f"<td>{e(str(m['latency_ms']))}</td><td>{e(str(m['error'] or ''))}</td></tr>"
        for m in document["messages"]
    )
    totals = "".join(
        f"<tr><th>{e(k)}</th><td>{e(json.dumps(v))}</td></tr>" for k, v in document["totals"].items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tap365 demo report</title>'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><style>body{font-family:'
        "system-ui,sans-serif;margin:1.5rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:.25rem .5rem;text-align:left;font-size:.85rem}</style></head><body>"
        f"<h1>tap365 demo report</h1><p>{e(document['generated_at'])}</p>"
        f"<h2>Totals</h2><table>{totals}</table>"
        "<h2>Messages</h2><table><tr><th>source</th><th>mailbox</th><th>verdict</th><th>action</th>"
        f"<th>final folder</th><th>Graph requests</th><th>latency ms</th><th>error</th></tr>{rows}</table>"
        "</body></html>"
    )

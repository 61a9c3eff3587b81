"""Impersonation Protect: indicators -> hits -> action.

Each indicator that fires is one named :class:`~tap_core.model.findings.Finding` (a rule of
``tap_core/data/impersonation/indicator_rules.toml``) and one hit; the hit
count against the policy threshold (1 for VIP policies, 3 by default) picks the action:
QUARANTINE, TAG (warning banner), LOG or DELIVER.

Pure: the tenant's users and sender history come in through the
:class:`~tap_core.impersonation.interfaces.Directory` and
:class:`~tap_core.impersonation.interfaces.SenderHistory` protocols. Nothing is recorded here:
call :func:`observe` after the message has been handled so that it never counts as its own history.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from tap_core.auth import results as auth
from tap_core.detect.rules import Rule, family_rules
from tap_core.impersonation.dictionary import ThreatDictionary, body_text
from tap_core.impersonation.freemail import is_freemail
from tap_core.impersonation.interfaces import Directory, InternalUser, SenderHistory
from tap_core.impersonation.names import (
    NameMatch,
    NameMatcher,
    Person,
    parse_display_name,
    person_from_name,
    vip_people,
)
from tap_core.impersonation.policy import (
    AUTH_FAILURE,
    DISPLAY_NAME_INTERNAL_USER,
    DISPLAY_NAME_VIP,
    DOMAIN_SIMILARITY,
    NEWLY_OBSERVED_SENDER,
    REPLY_TO_MISMATCH,
    THREAT_DICTIONARY,
    ImpersonationAction,
    ImpersonationPolicy,
    NameMatching,
)
from tap_core.lookalike.domains import shared_matcher
from tap_core.model.findings import Finding
from tap_core.model.message import Address, Message
from tap_core.parsing.domains import host_matches_domain
from tap_core.parsing.orgdomain import organisation_domain


@dataclass(slots=True)
class ImpersonationResult:
    """What Impersonation Protect decided for one message."""

    hits: int
    indicators: list[Finding]
    action: ImpersonationAction
    #: Why the message was not assessed (trusted sender, not a protected recipient...), if so.
    skipped: str = ""
    #: Indicators that fired but were suppressed (mailbox intelligence), in words.
    suppressed: list[str] = field(default_factory=list)

    @property
    def indicator_names(self) -> list[str]:
        return [f.name for f in self.indicators]

    def to_json(self) -> dict[str, Any]:
        """The shape ``tap365 scan --json`` prints under ``impersonation``."""
        return {
            "hits": self.hits,
            "indicators": [{"name": f.name, "evidence": f.evidence} for f in self.indicators],
            "action": self.action,
        }


# --- cached per-configuration structures ---------------------------------------------------------


@lru_cache(maxsize=64)
def _vip_matcher(vips: tuple[tuple[str, str, tuple[str, ...]], ...], t_json: str) -> NameMatcher:
    people = vip_people({"name": n, "email": e, "aliases": list(a)} for n, e, a in vips)
    return NameMatcher(people, NameMatching.model_validate_json(t_json))


@lru_cache(maxsize=64)
def _dictionary(
    languages: tuple[str, ...], strong: tuple[str, ...], weak: tuple[str, ...]
) -> ThreatDictionary:
    return ThreatDictionary(languages, strong, weak)


class _DirectoryIndexCache:
    """Name indexes of directories, rebuilt only when the directory returns a new sequence."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._items: OrderedDict[tuple[int, str, str], tuple[Sequence[InternalUser], NameMatcher]] = (
            OrderedDict()
        )

    def get(self, directory: Directory, tenant_id: str, thresholds: NameMatching) -> NameMatcher:
        users = directory.internal_users(tenant_id)
        key = (id(directory), tenant_id, thresholds.model_dump_json())
        cached = self._items.get(key)
        if cached is not None and cached[0] is users:
            self._items.move_to_end(key)
            return cached[1]
        people: list[Person] = []
        for user in users:
            person = person_from_name(user.name, user.addresses, key=user.address.lower() or user.name)
            if person:
                people.append(person)
        matcher = NameMatcher(people, thresholds)
        self._items[key] = (users, matcher)
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return matcher


_DIRECTORY_INDEXES = _DirectoryIndexCache()


def _vip_key(vip: object) -> tuple[str, str, tuple[str, ...]]:
    get = vip.get if isinstance(vip, dict) else lambda k: getattr(vip, k, None)
    return (
        str(get("name") or ""),
        str(get("email") or "").lower(),
        tuple(str(a) for a in get("aliases") or ()),
    )


# --- helpers -----------------------------------------------------------------------------------


def _in_domains(domain: str, domains: Iterable[str]) -> bool:
    return bool(domain) and any(host_matches_domain(domain, d) for d in domains)


def _reg(domain: str) -> str:
    return organisation_domain(domain)


def _trusted(policy: ImpersonationPolicy, sender: Address | None) -> str:
    if sender is None or not sender.address:
        return ""
    addr, domain = sender.address.lower(), sender.domain.lower()
    for entry in policy.trusted_senders:
        if entry == addr or (entry.startswith("@") and _in_domains(domain, [entry[1:]])):
            return f"trusted sender {entry}"
    if _in_domains(domain, policy.trusted_domains):
        return f"trusted domain {domain}"
    return ""


def _rules() -> dict[str, Rule]:
    """The indicator rules, by name."""
    return family_rules("impersonation", "indicator_rules.toml")


def _one(findings: list[Finding]) -> list[Finding]:
    """Several occurrences of one indicator are one finding (one hit): their sentences one after
    another as the reason, their evidence joined, the first's variant."""
    if len(findings) <= 1:
        return findings
    first = findings[0]
    return [
        _rules()[first.name].finding(
            "; ".join(f.evidence for f in findings),
            first.variant,
            reason=" ".join(f.reason for f in findings),
        )
    ]


def _show(addr: Address) -> str:
    return f'"{addr.name}" <{addr.address}>' if addr.name else addr.address


_LIST_HEADERS = ("List-Id", "List-Post", "List-Unsubscribe", "List-Help", "List-Subscribe", "Mailing-List")


def _is_list_reply(message: Message, reply: Address) -> bool:
    """Mailing lists set Reply-To to the list: no mismatch when the list headers name its domain."""
    listed = " ".join(v for h in _LIST_HEADERS for v in message.header_values(h)).lower()
    if not listed or not reply.domain:
        return False
    return reply.address in listed or _reg(reply.domain) in listed


# --- the indicators ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Context:
    message: Message
    policy: ImpersonationPolicy
    internal_domains: list[str]
    sender: Address | None
    external: bool
    recipients: list[str]
    history: SenderHistory | None
    tenant_id: str
    now: datetime
    auth_results: auth.AuthResults | None


def _auth_failed(ctx: _Context) -> bool:
    return ctx.auth_results is not None and auth.has_failure(ctx.auth_results)


def _corresponded(ctx: _Context) -> bool:
    if not (ctx.history and ctx.policy.mailbox_intelligence and ctx.sender and ctx.sender.address):
        return False
    if _auth_failed(ctx):
        return False  # a forged known correspondent must not borrow its history
    return any(ctx.history.has_corresponded(ctx.tenant_id, r, ctx.sender.address) for r in ctx.recipients)


def _fold_name(name: str) -> str:
    return " ".join(sorted(parse_display_name(name).tokens))


def _name_match(ctx: _Context, matches: list[NameMatch]) -> NameMatch | None:
    """At most one match (one hit): the first matched person whose address the sender lacks."""
    assert ctx.sender is not None
    addr = ctx.sender.address.lower()
    for m in matches:
        if addr in m.person.addresses:
            return None  # the person themself
        if not m.person.addresses and not ctx.external:
            continue  # no address known for this person: only outside mail can be told apart
        return m
    return None


def _display_name(
    ctx: _Context, vips: Sequence[object], directory: Directory | None
) -> tuple[list[Finding], bool]:
    """(findings, suppressed by mailbox intelligence)."""
    sender = ctx.sender
    if sender is None or not sender.name:
        return [], False
    policy = ctx.policy
    out: list[Finding] = []
    vip_hits: set[str] = set()
    address = sender.address.lower() or "no address"
    if vips and policy.indicator_enabled(DISPLAY_NAME_VIP):
        matcher = _vip_matcher(tuple(_vip_key(v) for v in vips), policy.name_matching.model_dump_json())
        matches = matcher.match(sender.name)
        found = _name_match(ctx, matches)
        if found:
            person = found.person.display
            evidence = f"{_show(sender)} resembles VIP {person} ({found.how})"
            out.append(_rules()["display_name_vip"].finding(evidence, person=person, address=address))
            vip_hits = {_fold_name(m.person.display) for m in matches}
    if directory is not None and ctx.external and policy.indicator_enabled(DISPLAY_NAME_INTERNAL_USER):
        matcher = _DIRECTORY_INDEXES.get(directory, ctx.tenant_id, policy.name_matching)
        # The same person as a VIP hit is one impersonation, not two.
        matches = [m for m in matcher.match(sender.name) if _fold_name(m.person.display) not in vip_hits]
        found = _name_match(ctx, matches)
        if found:
            person = found.person.display
            evidence = f"{_show(sender)} resembles internal user {person} ({found.how})"
            out.append(
                _rules()["display_name_internal_user"].finding(evidence, person=person, address=address)
            )
    if out and _corresponded(ctx):
        return [], True
    return out, False


def _domain_similarity(ctx: _Context) -> list[Finding]:
    protected = tuple(sorted({*ctx.internal_domains, *ctx.policy.monitored_domains}))
    if not protected:
        return []
    # The one matcher links use too (tenant_lookalike): a domain is a look-alike for both or neither.
    matcher = shared_matcher(protected, ctx.policy.domain_matching.model_dump_json())
    candidates: list[tuple[str, str]] = []
    if ctx.sender and ctx.sender.domain:
        candidates.append(("From", ctx.sender.domain))
    candidates += [("Reply-To", r.domain) for r in ctx.message.reply_to if r.domain]
    items: list[Finding] = []
    seen: set[str] = set()
    for where, host in candidates:
        if host in seen:
            continue
        seen.add(host)
        found = matcher.match(host)
        if found:
            whose = "sender's domain" if where == "From" else "reply address domain"
            items.append(
                _rules()["domain_similarity"].finding(
                    f"{where} {found.describe()}", whose=whose, host=found.host, protected=found.protected
                )
            )
    return _one(items)


def _reply_to_mismatch(ctx: _Context) -> list[Finding]:
    sender = ctx.sender
    if sender is None or not sender.domain:
        return []
    from_reg = _reg(sender.domain)
    from_free = is_freemail(sender.domain)
    rule = _rules()
    items: list[Finding] = []
    for reply in ctx.message.reply_to:
        if not reply.domain or reply.address == sender.address or _is_list_reply(ctx.message, reply):
            continue
        both_internal = _in_domains(reply.domain, ctx.internal_domains) and _in_domains(
            sender.domain, ctx.internal_domains
        )
        if is_freemail(reply.domain) and not from_free:
            items.append(
                rule["reply_to_mismatch"].finding(
                    f"Reply-To {reply.address} is a free mailbox, From is {sender.domain}",
                    "free_mailbox",
                    address=reply.address,
                    domain=sender.domain,
                )
            )
        elif _reg(reply.domain) != from_reg and not both_internal:
            items.append(
                rule["reply_to_mismatch"].finding(
                    f"Reply-To {reply.address} is not at {from_reg}", address=reply.address, domain=from_reg
                )
            )
    rp = ctx.message.return_path.strip("<> ").lower()
    rp_domain = rp.rpartition("@")[2]
    if rp_domain and not ctx.message.reply_to:
        if is_freemail(rp_domain) and not from_free:
            items.append(
                rule["reply_to_mismatch"].finding(
                    f"Return-Path {rp} is a free mailbox, From is {sender.domain}",
                    "return_path_free_mailbox",
                    address=rp,
                    domain=sender.domain,
                )
            )
        elif ctx.policy.strict_return_path and _reg(rp_domain) != from_reg:
            items.append(
                rule["reply_to_mismatch"].finding(
                    f"Return-Path {rp} is not at {from_reg}", "return_path", address=rp, domain=from_reg
                )
            )
    return _one(items)


def _newly_observed(ctx: _Context) -> list[Finding]:
    sender = ctx.sender
    if ctx.history is None or not ctx.external or sender is None or not sender.address:
        return []
    scope = ctx.policy.newly_observed_scope
    by_address = scope == "address" or (scope == "auto" and is_freemail(sender.domain))
    subject = sender.address.lower() if by_address else _reg(sender.domain)
    first = (
        ctx.history.first_seen(ctx.tenant_id, subject)
        if by_address
        else ctx.history.first_seen_domain(ctx.tenant_id, subject)
    )
    days = ctx.policy.newly_observed_days
    if first is not None and ctx.now - first >= timedelta(days=days):
        return []
    if first is None:
        evidence = f"{subject} never seen before (window {days} days)"
        return [_rules()["newly_observed_sender"].finding(evidence, subject=subject)]
    evidence = f"{subject} first seen {first.date().isoformat()} (window {days} days)"
    return [_rules()["newly_observed_sender"].finding(evidence, "recent", subject=subject, days=days)]


def _threat_dictionary(ctx: _Context) -> list[Finding]:
    p = ctx.policy
    dictionary = _dictionary(
        tuple(p.threat_languages), tuple(p.extra_threat_terms), tuple(p.extra_weak_threat_terms)
    )
    terms = dictionary.matches(ctx.message.subject, body_text(ctx.message.text_body, ctx.message.html_body))
    if not terms:
        return []
    shown = ", ".join(f"'{t}'" for t in terms[:8])
    return [_rules()["threat_dictionary"].finding(shown, terms=shown)]


def _auth_failure(ctx: _Context) -> list[Finding]:
    if not ctx.external:
        return []  # internal mail is not SPF/DMARC-authenticated: Exchange vouches for it
    items: list[Finding] = []
    sender = ctx.sender
    if sender is not None and _in_domains(sender.domain, ctx.internal_domains):
        # Mail from outside that says it is from us: a spoof whatever the authentication says.
        items.append(
            _rules()["auth_failure"].finding(
                f"external message claims internal domain {sender.domain}",
                "internal_domain",
                domain=sender.domain,
            )
        )
    problems: list[str] = []
    if ctx.auth_results is not None:
        problems = auth.authentication_problems(ctx.auth_results)
    elif ctx.policy.require_authentication_results:
        problems = ["no Authentication-Results header"]
    if problems:
        shown = "; ".join(problems)
        items.append(_rules()["auth_failure"].finding(shown, problems=shown))
    return _one(items)


# --- entry points ------------------------------------------------------------------------------


def _recipients(message: Message) -> list[str]:
    return [a.address.lower() for a in message.recipients if a.address]


def _targeted(
    policy: ImpersonationPolicy,
    recipients: list[str],
    vips: Sequence[object],
    directory: Directory | None,
    tenant_id: str,
) -> str:
    """'' when the policy applies to this message, else why not."""
    if policy.targets == "everyone":
        return ""
    if policy.targets == "vips":
        vip_addresses = set()
        for v in vips:
            _, email, aliases = _vip_key(v)
            vip_addresses |= {email, *(a.lower() for a in aliases if "@" in a)}
        return "" if vip_addresses & set(recipients) else "no VIP among the recipients"
    if directory is None:
        return "target groups need a directory"
    wanted = set(policy.target_groups)
    for user in directory.internal_users(tenant_id):
        if user.addresses & set(recipients) and {g.lower() for g in user.groups} & wanted:
            return ""
    return "no recipient in the target groups"


def assess_impersonation(
    message: Message,
    policy: ImpersonationPolicy | None = None,
    *,
    internal_domains: Sequence[str],
    vips: Sequence[object],
    directory: Directory | None = None,
    history: SenderHistory | None = None,
    tenant_id: str = "",
    now: datetime | None = None,
) -> ImpersonationResult:
    """Run every enabled indicator on ``message`` and pick the action.

    ``vips`` are the policy's top-level VIPs (objects or dicts with ``name``, ``email``,
    ``aliases``); ``internal_domains`` the tenant's own domains. Without ``directory`` the
    internal-user check is skipped, without ``history`` the newly-observed check and mailbox
    intelligence.
    """
    policy = policy or ImpersonationPolicy()
    if not policy.enabled:
        return ImpersonationResult(0, [], "deliver", skipped="impersonation protection disabled")
    domains = [d.strip().lower().rstrip(".") for d in internal_domains if d.strip()]
    sender = message.from_address
    recipients = _recipients(message)
    not_targeted = _targeted(policy, recipients, vips, directory, tenant_id)
    if not_targeted:
        return ImpersonationResult(0, [], "deliver", skipped=not_targeted)
    auth_results = auth.receiver_results(message)
    trusted = _trusted(policy, sender)
    # A trusted sender is exempt only while its authentication holds: spoofing it must not pay.
    if trusted and not (auth_results and auth.has_failure(auth_results)):
        return ImpersonationResult(0, [], "deliver", skipped=trusted)
    direction = auth.direction(message, domains)
    # Without Exchange's stamp, mail from one of our domains is outside mail only when its
    # authentication failed (a spoof); "none" results are normal for internal mail.
    external = direction == "external" or (
        direction == "unknown" and auth_results is not None and auth.has_failure(auth_results)
    )
    ctx = _Context(
        message,
        policy,
        domains,
        sender,
        external,
        recipients,
        history,
        tenant_id,
        message_time(message, now),
        auth_results,
    )
    findings, was_suppressed = _display_name(ctx, vips, directory)
    suppressed = ["display name: the recipient has corresponded with this sender"] if was_suppressed else []
    checks = (
        (DOMAIN_SIMILARITY, _domain_similarity),
        (REPLY_TO_MISMATCH, _reply_to_mismatch),
        (NEWLY_OBSERVED_SENDER, _newly_observed),
        (THREAT_DICTIONARY, _threat_dictionary),
        (AUTH_FAILURE, _auth_failure),
    )
    for name, check in checks:
        if policy.indicator_enabled(name):
            findings += check(ctx)
    hits = len({f.name for f in findings})
    return ImpersonationResult(hits, findings, policy.action_for(hits), suppressed=suppressed)


def message_time(message: Message, now: datetime | None = None) -> datetime:
    """The moment a message is judged at: ``now`` if given, else when it was received, else the
    clock; timezone-aware (a naive time is taken as UTC)."""
    when = now or message.received_at or datetime.now(UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def observe(
    message: Message,
    history: SenderHistory,
    *,
    tenant_id: str = "",
    now: datetime | None = None,
    link_domains: Iterable[str] = (),
) -> None:
    """Record a delivered message in ``history`` (call after deciding it): the sender is now
    seen, and paired with the recipients for mailbox intelligence; ``link_domains`` (the
    registered domains of its links, :attr:`Decision.link_domains`) are now known to the
    organisation."""
    when = message_time(message, now)
    domains = list(link_domains)
    if domains:
        history.record_link_domains(tenant_id, domains, when)
    sender = message.from_address
    if sender is None or not sender.address:
        return
    history.record(tenant_id, sender.address.lower(), _recipients(message), when)


__all__ = ["ImpersonationResult", "assess_impersonation", "observe"]

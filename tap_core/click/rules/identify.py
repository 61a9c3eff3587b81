"""Which brand a page presents itself as, from independent kinds of evidence.

The brand table is data: ``tap_core/data/click/page_brands.toml`` (how each brand names itself,
its sign-in hosts, the hosts of its own page assets, distinctive form vocabulary), with the
domains of ``tap_core/data/urls/brands.toml`` for the brands listed there. Nothing here is about a
particular page: a page *presents* a brand when several kinds of evidence agree (its title, its
headings and labels, its copyright line, its logo's alt text or file name, its favicon, assets
loaded from the brand's own servers, the brand's form vocabulary), the way a person recognises a
sign-in page at a glance. "Sign in with Google" and a row of card logos are not presentation:
buttons offering another provider's sign-in are left out, and a name that is also an ordinary
word (Apple, Chase, Steam) only counts next to evidence that is not a name.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urlsplit

from selectolax.lexbor import LexborNode

from tap_core.click.rules.parse import Page, attr, host_of, resolve
from tap_core.data import data_lines, data_text
from tap_core.lookalike import brand_domains, brand_owning
from tap_core.parsing.domains import registered_domain
from tap_core.urls.platforms import is_user_site

#: Evidence kinds and what each adds to a brand's presentation score.
KIND_WEIGHTS: dict[str, float] = {
    "title": 2.0,  # <title>, og:site_name, application-name
    "heading": 2.0,  # h1-h4, labels, legends, the submit button ("Log in to Facebook")
    "copyright": 2.0,  # "© 2024 Facebook", "Facebook ©"
    "favicon": 2.0,  # the tab icon comes from the brand or is named after it
    "markers": 2.0,  # the brand's own form ids and names (loginfmt, i0116)
    "assets": 1.0,  # images, styles, scripts from the brand's own servers (2.0 from several)
    "logo": 1.0,  # an image whose alt text is the brand's name
    "logo_file": 1.0,  # an image whose file name is the brand's (facebook-logo.png)
    "classes": 1.0,  # the page's class and id vocabulary names the brand (svg-logo_twitch)
    "text": 1.0,  # the visible text names the brand several times
    "signin": 2.0,  # the text asks for the brand's account: "Log in to Instagram", "Apple ID password"
}
#: A score at which the page presents the brand, and the kinds it takes to be sure.
PRESENTS_SCORE = 3.0
SURE_KINDS = 2
#: What the page looks like rather than what it says: the kinds a weak name needs beside it.
LOOKS_KINDS = frozenset({"favicon", "assets", "logo_file", "markers", "classes"})
_MAX_NODES = 400  # elements read per kind: a page cannot make this quadratic

# "Sign in with Google", "Continue with Apple", "Log in using Facebook", "via LinkedIn": another
# provider's sign-in offered on a page, not the page presenting itself as that provider.
_OFFERED = re.compile(r"\b(?:with|using|via|through|use|avec|mit|con|com|met)\s*$", re.I)
# The text right before a name asks to sign in to it; right after it, names its account.
_SIGNIN_BEFORE = re.compile(
    r"(?:log\s?in|sign\s?in|log\s?on|login|connect|anmelden|connexion|iniciar sesi[oó]n|entrar|accedi)"
    r"\s+(?:to|into|at|on|bei|à|a|en|em|su)\s+(?:your\s+|votre\s+|tu\s+|seu\s+|il tuo\s+)?$",
    re.I,
)
_SIGNIN_AFTER = re.compile(
    r"^\s*(?:account|password|passwort|id|login|log\s?in|sign[\s-]?in|konto|compte|cuenta|conta|e-?mail)\b",
    re.I,
)
_OFFER_LABEL = re.compile(r"\b(?:with|using|via|continue|connect|share)\b", re.I)
_SOCIAL = re.compile(r"\b(?:share|sharing|follow|like us|find us|icon)\b", re.I)
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_SOCIAL_WORDS = frozenset({"share", "sharing", "social", "follow", "icon", "icons", "btn", "button",
                           "connect",
                           "signin", "login", "auth", "oauth", "sso", "widget", "pixel"})
_LOGO_KINDS = ("logo", "logo_file")
_BADGE_ROW = 2  # brands whose logos a page shows at once: from two on, they are badges
_LOGO_WORDS = frozenset({"logo", "logotype", "brand", "brandlogo", "wordmark"})
_MAX_HEADING = 80  # characters: longer is a headline or a paragraph
_MAX_ALT = 60
_TEXT_MENTIONS = 3
_OWNED_ASSETS = 3  # resources from a brand's other hosts (not its listed asset hosts)
_MANY_ASSETS = 3  # resources from the brand's servers that weigh as much as a name
_TITLE_SIGNIN = re.compile(
    r"\b(?:log\s?in|sign\s?in|log\s?on|sign\s?on|anmelden|connexion|iniciar sesi[oó]n|entrar|accedi|"
    r"accesso|inloggen|zaloguj|войти|вход)\b",
    re.I,
)
_META = 'meta[property="og:site_name"], meta[name="application-name"], meta[property="og:title"]'
_COPYRIGHT = re.compile(r"(?:©|&copy;|\(c\)|copyright)", re.I)


@dataclass(frozen=True, slots=True)
class PageBrand:
    name: str
    names: tuple[str, ...]
    weak_names: tuple[str, ...]
    domains: frozenset[str]
    signin_hosts: frozenset[str]
    assets: frozenset[str]
    markers: frozenset[str]
    kind: str
    #: lower-case file-name tokens that name the brand ("facebook" in fb-logo-facebook.png)
    tokens: frozenset[str]


@dataclass(frozen=True, slots=True)
class BrandTable:
    brands: tuple[PageBrand, ...]
    by_name: dict[str, PageBrand]
    #: lower-cased name -> (brand, weak)
    names: dict[str, tuple[PageBrand, bool]]
    names_re: re.Pattern[str] | None
    #: registered domain or host -> brand name
    owned: dict[str, str]
    #: a host or registered domain serving a brand's own assets -> brand name
    asset_hosts: dict[str, str]
    markers: dict[str, str]
    shared_hosts: frozenset[str]
    #: a word of file names and class names -> the brand it names
    by_token: dict[str, PageBrand]


@dataclass(slots=True)
class BrandEvidence:
    """What a page shows of one brand: evidence kind -> a short excerpt."""

    brand: PageBrand
    kinds: dict[str, str] = field(default_factory=dict)
    assets: int = 0

    def add(self, kind: str, excerpt: str) -> None:
        self.kinds.setdefault(kind, excerpt[:80])

    @property
    def score(self) -> float:
        total = 0.0
        for kind in self.kinds:
            weight = KIND_WEIGHTS[kind]
            if kind == "assets" and self.assets >= _MANY_ASSETS:
                weight = 2.0
            total += weight
        return total

    @property
    def sure(self) -> bool:
        """Presented beyond doubt: enough score from at least two independent kinds, one of them
        what the page looks like (its resources) or its title together with its sign-in prompt."""
        kinds = self.kinds.keys()
        if self.score < PRESENTS_SCORE or len(kinds) < SURE_KINDS:
            return False
        return bool(kinds & LOOKS_KINDS) or ("title" in kinds and bool(kinds & {"heading", "signin"}))

    def describe(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.kinds.items())


@cache
def brand_table() -> BrandTable:
    """The page brand table (page_brands.toml with the URL brand table's domains)."""
    spec = tomllib.loads(data_text("click", "page_brands.toml"))
    url_domains = brand_domains()
    brands: list[PageBrand] = []
    for entry in spec["brand"]:
        name = entry["name"]
        domains = {d.lower() for d in [*url_domains.get(name, ()), *entry.get("domains", ())]}
        strong = tuple(entry.get("names", ()))
        weak = tuple(entry.get("weak_names", ()))
        # File-name and class words that name the brand: each name joined up ("stackoverflow")
        # and its first part ("wordpress" of WordPress.com).
        tokens = {re.sub(r"[^a-z0-9]", "", n.lower()) for n in strong}
        tokens |= {n.lower().split(".", 1)[0] for n in strong if "." in n}
        brands.append(
            PageBrand(
                name=name,
                names=strong,
                weak_names=weak,
                domains=frozenset(domains),
                signin_hosts=frozenset(h.lower() for h in entry.get("signin_hosts", ())),
                assets=frozenset(h.lower() for h in entry.get("assets", ())),
                markers=frozenset(m.lower() for m in entry.get("markers", ())),
                kind=entry.get("kind", "other"),
                tokens=frozenset(t for t in tokens if len(t) >= 4),
            )
        )
    names: dict[str, tuple[PageBrand, bool]] = {}
    for b in brands:
        for n in b.names:
            names.setdefault(n.lower(), (b, False))
        for n in b.weak_names:
            names.setdefault(n.lower(), (b, True))
    ordered = sorted(names, key=len, reverse=True)
    names_re = (
        re.compile(r"(?<![\w.@-])(?:" + "|".join(re.escape(n) for n in ordered) + r")(?![\w@-])", re.I)
        if ordered
        else None
    )
    owned: dict[str, str] = {}
    assets: dict[str, str] = {}
    markers: dict[str, str] = {}
    for b in brands:
        for d in b.domains:
            owned.setdefault(d, b.name)
        for h in b.assets:  # not sign-in hosts: www.facebook.com serves other sites' pixels too
            assets.setdefault(h, b.name)
        for m in b.markers:
            markers.setdefault(m, b.name)
    shared = frozenset(h.lower() for h in data_lines("click", "shared_asset_hosts.txt"))
    by_token: dict[str, PageBrand] = {}
    ordinary = {n.lower() for b in brands for n in b.weak_names}
    for b in brands:
        for t in sorted(b.tokens - ordinary):
            by_token.setdefault(t, b)
    return BrandTable(tuple(brands), {b.name: b for b in brands}, names, names_re, owned, assets,
                      markers, shared, by_token)


def shown_name(brand: PageBrand, page: Page) -> str:
    """The brand as the page names it (Instagram, not Meta), else the table's name."""
    for text in (page.title, page.text[:4000]):
        lowered = text.lower()
        for name in sorted(brand.names, key=len, reverse=True):
            if name.lower() in lowered:
                return name
    return brand.name


def _site_keys(host: str) -> tuple[str, str]:
    """How a table names ``host``'s owner: its registered domain, and "label.*" (any suffix)."""
    site = registered_domain(host) or host
    return site, f"{site.split('.', 1)[0]}.*"


def owns(brand: PageBrand, host: str) -> bool:
    """Whether ``host`` is one of ``brand``'s own (its domains, sign-in and asset hosts). A
    user's site on a shared platform (x.blogspot.com, y.github.io) is its user's, not the
    platform owner's."""
    if not host:
        return False
    if brand_owning(host) == brand.name:
        return True
    if is_user_site(host):
        return False
    return host in brand.signin_hosts or any(key in brand.domains for key in _site_keys(host))


def brand_of_host(host: str) -> str | None:
    """The brand (page table) owning ``host``, if any."""
    if not host:
        return None
    owner = brand_owning(host)
    if owner is not None or is_user_site(host):
        return owner
    owned = brand_table().owned
    return next((owned[key] for key in _site_keys(host) if key in owned), None)


def _cloud(host: str, table: BrandTable) -> bool:
    """A host of a cloud or CDN that serves anyone's files (its whole registered domain shared)."""
    site = registered_domain(host, private=False)
    return bool(site) and site in table.shared_hosts


def shared_host(host: str) -> bool:
    """Whether ``host`` serves what ordinary sites embed (SDKs, widgets, fonts, clouds:
    ``shared_asset_hosts.txt``): loading from it says nothing about whose page this is."""
    return _shared(host, brand_table())


def _suffixes(host: str) -> Iterable[str]:
    """``host`` and the domains above it, down to two labels (a.b.example.com ... example.com)."""
    parts = host.split(".")
    return (".".join(parts[i:]) for i in range(len(parts) - 1))


def _shared(host: str, table: BrandTable) -> bool:
    return any(suffix in table.shared_hosts for suffix in _suffixes(host))


def _named(text: str, table: BrandTable) -> Iterable[tuple[PageBrand, bool, str, int]]:
    """(brand, weak, the name as written, position) for each brand name in ``text``."""
    if table.names_re is None or not text:
        return
    for m in table.names_re.finditer(text[:4000]):
        brand, weak = table.names[m.group(0).lower()]
        yield brand, weak, m.group(0), m.start()


def _texts(page: Page, selector: str, limit: int = _MAX_NODES) -> list[str]:
    return [" ".join(n.text(separator=" ").split())[:300] for n in page.tree.css(selector)[:limit]]


def identify(page: Page) -> list[BrandEvidence]:
    """Brands the page shows, strongest first. Names (what the page says) and resources (what it
    looks like) are kept apart: a name that is also an ordinary word never counts, as a name, without
    a resource of the brand; social links ("follow us" icons linking to the brand) are no evidence."""
    table = brand_table()
    found: dict[str, BrandEvidence] = {}
    weak: dict[str, set[str]] = {}

    def note(brand: PageBrand, kind: str, excerpt: str, is_weak: bool = False) -> None:
        ev = found.get(brand.name)
        if is_weak:
            weak.setdefault(brand.name, set()).add(kind)
            if ev is not None and kind in ev.kinds:
                return
        if ev is None:
            ev = found[brand.name] = BrandEvidence(brand)
        if not is_weak and kind in weak.get(brand.name, set()):
            weak[brand.name].discard(kind)  # a distinctive name confirms what a weak one said
        ev.add(kind, excerpt)

    _says(page, table, note)
    _looks(page, table, note, found)
    # A row of logos of several brands (cards accepted, partners, app stores) is badges, not the
    # page's own identity: a clone shows the one brand it copies.
    badged = [ev for ev in found.values() if ev.kinds.keys() & _LOGO_KINDS]
    if len(badged) >= _BADGE_ROW:
        for ev in badged:
            for kind in _LOGO_KINDS:
                ev.kinds.pop(kind, None)
    out = []
    for name, ev in found.items():
        says_only_weakly = {k for k in weak.get(name, set()) if k in ev.kinds}
        for kind in says_only_weakly:
            if not ev.kinds.keys() & LOOKS_KINDS:
                del ev.kinds[kind]
        if ev.kinds:
            out.append(ev)
    out.sort(key=lambda e: (-e.score, e.brand.name))
    return out


Note = Callable[[PageBrand, str, str, bool], None]


def _says(page: Page, table: BrandTable, note: Note) -> None:
    """Names where a page says whose it is: title, headings, sign-in prompts, copyright."""
    meta = [attr(n, "content") for n in page.tree.css(_META)[:5]]
    for text in [page.title, *meta]:
        for brand, is_weak, name, pos in _named(text, table):
            note(brand, "title", f"{name} in {text[:60]!r}", is_weak)
            # "Log in | VK", "Sign in - Adobe ID", "Login - Spotify": the title says whose sign-in
            # page this is, not merely whose name it mentions.
            if _TITLE_SIGNIN.search(text) and not _OFFERED.search(text[:pos]):
                note(brand, "signin", text[:60], is_weak)
    headings = _texts(page, "h1, h2, h3, h4, label, legend, button, [role=heading]")
    headings += [attr(n, "value") for n in page.tree.css("input[type=submit], input[type=button]")[:40]]
    for text in headings:
        if len(text) > _MAX_HEADING:
            continue  # a headline, not a page saying whose it is
        for brand, is_weak, _name, pos in _named(text, table):
            if not _OFFERED.search(text[:pos]):
                note(brand, "heading", text[:60], is_weak)
    text = page.text
    for m in _COPYRIGHT.finditer(text[:20000]):
        # The owner follows the sign ("© 2024 Facebook", "Copyright © 1999-2024 PayPal") or
        # comes right before it ("Facebook © 2024"), not a row of social links before it.
        start = max(0, m.start() - 14)
        window = text[start: m.end() + 40]
        for brand, is_weak, name, pos in _named(window, table):
            if start + pos < m.start() and start + pos + len(name) < m.start() - 2:
                continue  # the last of a row of links before the sign, not its owner
            note(brand, "copyright", f"{name}: {' '.join(window.split())[:60]}", is_weak)
    counts: dict[str, int] = {}
    for brand, is_weak, name, pos in _named(text, table):
        before = text[max(0, pos - 30):pos]
        if _OFFERED.search(before):
            continue
        after = text[pos + len(name): pos + len(name) + 20]
        if _SIGNIN_BEFORE.search(before) or _SIGNIN_AFTER.search(after):
            note(brand, "signin", text[max(0, pos - 20): pos + len(name) + 20], is_weak)
        if not is_weak:
            counts[brand.name] = counts.get(brand.name, 0) + 1
    for name, n in counts.items():
        if n >= _TEXT_MENTIONS:
            note(table.by_name[name], "text", f"named {n} times", False)
    for node in page.tree.css("img[alt], svg[aria-label], img[title]")[:_MAX_NODES]:
        label = attr(node, "alt") or attr(node, "aria-label") or attr(node, "title")
        if len(label) > _MAX_ALT or _SOCIAL.search(label) or _social_link(node, table):
            continue
        for brand, is_weak, _name, pos in _named(label, table):
            if not _OFFERED.search(label[:pos]) and not _in_offer(node):
                note(brand, "logo", f"alt {label[:60]!r}", is_weak)


def _looks(page: Page, table: BrandTable, note: Note, found: dict[str, BrandEvidence]) -> None:
    """Resources: the favicon, assets from the brand's own servers, logo files, form vocabulary."""
    listed: dict[str, set[str]] = {}  # from a host the table lists as the brand's own assets
    owned: dict[str, set[str]] = {}  # from another host of the brand's domains
    for node in page.tree.css("img[src], link[href], script[src], image[href]")[:_MAX_NODES]:
        ref = attr(node, "src") or attr(node, "href")
        if not ref or ref.startswith("data:"):
            continue
        url = resolve(page.url, ref)
        host = host_of(url)
        rel = attr(node, "rel").lower()
        if host and host != page.host:
            listed_owner = _listed_asset(host, table)
            owner = listed_owner or brand_of_host(host)
            if owner is not None and owner in table.by_name:
                if "icon" in rel and not _cloud(host, table):
                    # A tab icon from the brand's servers dresses the page as the brand, whichever
                    # of its hosts serves it (widget hosts too; not a cloud serving anyone's files).
                    note(table.by_name[owner], "favicon", ref[:80], False)
                if not _shared(host, table):
                    (listed if listed_owner else owned).setdefault(owner, set()).add(url)
        file_brand = _file_named(url, table)
        if file_brand is not None and not _social_link(node, table) and not _in_offer(node):
            if "icon" in rel:
                note(file_brand, "favicon", ref[:80], False)
            elif node.tag in ("img", "image"):
                note(file_brand, "logo_file", ref[:80], False)
    for name in set(listed) | set(owned):
        urls = listed.get(name, set()) | owned.get(name, set())
        if name in listed or len(urls) >= _OWNED_ASSETS:
            note(table.by_name[name], "assets", f"{len(urls)} from {host_of(sorted(urls)[0])}", False)
            found[name].assets = len(urls)
    for node in page.tree.css("[class], [id]")[:_MAX_NODES * 4]:
        words = _WORD_SPLIT.split(f"{attr(node, 'class')} {attr(node, 'id')}".lower())
        if _SOCIAL_WORDS.intersection(words):
            continue  # share buttons and social icons
        if not _LOGO_WORDS.intersection(words):
            continue  # only a logo's class names the brand it shows (svg-logo_twitch, fb_logo)
        named = table.by_token.get(next((w for w in words if w in table.by_token), ""))
        if named is not None and not _social_link(node, table) and not _in_offer(node):
            note(named, "classes", f"{attr(node, 'class')} {attr(node, 'id')}".strip()[:80], False)
    if table.markers:
        for node in page.tree.css("input, form, button, div[id]")[:_MAX_NODES]:
            for key in ("id", "name", "data-testid"):
                value = attr(node, key).lower()
                owner = table.markers.get(value) if value else None
                if owner:
                    note(table.by_name[owner], "markers", value, False)


def _listed_asset(host: str, table: BrandTable) -> str | None:
    """The brand whose listed asset hosts serve ``host`` (or a domain above it)."""
    return next((table.asset_hosts[s] for s in _suffixes(host) if s in table.asset_hosts), None)


def _enclosing(node: LexborNode, tags: tuple[str, ...]) -> LexborNode | None:
    """The nearest of ``node``'s three closest ancestors that is one of ``tags``."""
    parent = node.parent
    for _ in range(3):
        if parent is None:
            return None
        if parent.tag in tags:
            return parent
        parent = parent.parent
    return None


def _social_link(node: LexborNode, table: BrandTable) -> bool:
    """Whether ``node`` sits in a link to a brand's own site (a "follow us" or "share" icon)."""
    link = _enclosing(node, ("a",))
    href = attr(link, "href") if link is not None else ""
    return bool(href) and brand_of_host(host_of(href)) is not None


def _file_named(url: str, table: BrandTable) -> PageBrand | None:
    """A brand named by an image's file name (``facebook-logo.png``, ``WordPress_logo.svg``)."""
    try:
        path = urlsplit(url).path.lower()
    except ValueError:
        return None
    base = path.rsplit("/", 1)[-1]
    if not base or len(base) > 80:
        return None
    for word in _WORD_SPLIT.split(base.rsplit(".", 1)[0]):
        if word in table.by_token:
            return table.by_token[word]
    return None


def _in_offer(node: LexborNode) -> bool:
    """Whether an image sits in a link or button that offers another provider's sign-in."""
    control = _enclosing(node, ("a", "button"))
    if control is None:
        return False
    return bool(_OFFER_LABEL.search(" ".join((control.text(separator=" ") or "").split())))

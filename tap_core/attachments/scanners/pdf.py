"""PDF (pypdf): active content, auto actions, launch, embedded files, forms, links, QR codes.

The document is opened once: the same reader gives the findings and the URLs (the open action's
and the annotations' link targets, the pages' text, then every other action's target).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from pypdf import PdfReader
from pypdf.errors import PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject, StreamObject

from tap_core.attachments.context import ScanContext, ScanTimeout, Unparseable
from tap_core.attachments.scanners._archive import candidate_passwords
from tap_core.attachments.scanners._pdf_images import qr_images
from tap_core.attachments.scanners._urls import add_reference, add_text
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES
from tap_core.attachments.scanners.qr import qr_urls_from_image

_AUTO_ACTIONS = {"/JavaScript", "/Launch", "/URI", "/SubmitForm", "/ImportData", "/GoToR", "/GoToE"}


class PdfScanner(Scanner):
    name = "pdf"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            encrypted = reader.is_encrypted
        except (PdfReadError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise Unparseable(f"{type(exc).__name__}: {exc}") from exc
        try:
            if encrypted and not self._decrypt(reader, ctx):
                return
            ctx.decrypted = ctx.decrypted or ctx.has("decrypted_with_password")
            state = _Walk(ctx)
            state.walk(reader.trailer)
            state.report()
            self._auto_actions(reader, ctx)
            self._links(reader, ctx, state.targets)
            self._qr(reader, ctx)
        except PdfReadError as exc:  # structure broken past what strict=False repairs
            raise Unparseable(f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _decrypt(reader: PdfReader, ctx: ScanContext) -> bool:
        if reader.decrypt(""):
            ctx.add("pdf_encrypted", "owner password only")
            return True
        for password in candidate_passwords(ctx):
            ctx.check_time()
            if reader.decrypt(password):
                ctx.add(
                    "decrypted_with_password",
                    f"{len(password)} characters",
                    kind="PDF",
                    source="the message text",
                )
                return True
        ctx.add("encrypted_document", "pdf", kind="PDF")
        return False

    @staticmethod
    def _auto_actions(reader: PdfReader, ctx: ScanContext) -> None:
        """Actions that run without a click: catalog OpenAction/AA and page-open AA."""
        root = _resolve(reader.trailer.get("/Root"))
        targets: list[tuple[str, PdfObject | None]] = []
        if isinstance(root, DictionaryObject):
            targets.append(("OpenAction", root.get("/OpenAction")))
            aa = _resolve(root.get("/AA"))
            if isinstance(aa, DictionaryObject):
                targets += [(f"document {key}", value) for key, value in aa.items()]
        for number, page in enumerate(reader.pages[:50]):
            aa = _resolve(page.get("/AA"))
            if isinstance(aa, DictionaryObject):
                targets += [(f"page {number + 1} {key}", value) for key, value in aa.items()]
        for where, action in targets:
            for kind in _action_kinds(action):
                if kind in _AUTO_ACTIONS:
                    ctx.add("pdf_auto_action", f"{where}: {kind}")
                    break

    @staticmethod
    def _links(reader: PdfReader, ctx: ScanContext, targets: list[tuple[str, str]]) -> None:
        """URLs as a reader meets them: the open action's, then per page (``max_pdf_pages``) the
        annotations' link targets and the text; then the other actions' targets (``targets``
        found by the walk). A damaged page or object is skipped, the rest still read."""
        try:
            root = _resolve(reader.trailer.get("/Root"))
            if isinstance(root, DictionaryObject):
                _action_link(root.get("/OpenAction"), "pdf_openaction", ctx)
        except ScanTimeout:
            raise
        except Exception:  # noqa: S110 - hostile input fails in many ways; the pages are still read
            pass
        try:
            pages = list(reader.pages[: ctx.limits.max_pdf_pages])
        except ScanTimeout:
            raise
        except Exception:
            pages = []
        for page in pages:
            if not ctx.urls_left():
                break
            ctx.check_time()
            try:
                annots = _resolve(page.get("/Annots"))
                for ref in annots if isinstance(annots, ArrayObject) else []:
                    annot = _resolve(ref)
                    if isinstance(annot, DictionaryObject):
                        _action_link(annot.get("/A"), "pdf_annotation", ctx)
                add_text(ctx, page.extract_text() or "", "pdf_text")
            except ScanTimeout:
                raise
            except Exception:  # noqa: S112 - hostile input fails in many ways; skipping it is the intent
                continue
        for context, target in targets:
            add_reference(ctx, target, context, if_new=True)

    @staticmethod
    def _qr(reader: PdfReader, ctx: ScanContext) -> None:
        """QR codes in the images of the first ``max_qr_pages`` pages; only images whose size can
        hold a code are decoded (natively where that is exact: see ``_pdf_images``)."""
        for number, page in enumerate(reader.pages[: ctx.limits.max_qr_pages]):
            try:
                for image in qr_images(page, ctx.limits.max_image_pixels):
                    ctx.check_time()
                    if qr_urls_from_image(image, ctx, f"page {number + 1}"):
                        return
            except ScanTimeout:
                raise
            except Exception:  # noqa: S112 - hostile input fails in many ways; skipping it is the intent
                continue


class _Walk:
    """Visits every object reachable from the trailer once, bounded by count and time."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.javascript: list[str] = []
        self.counts: dict[str, int] = {}
        #: (context, target) of the link actions met, recorded after the links a reader sees.
        self.targets: list[tuple[str, str]] = []

    def walk(self, start: PdfObject) -> None:
        ctx = self.ctx
        stack: list[PdfObject] = [start]
        seen: set[tuple[int, int]] = set()
        while stack:
            obj = stack.pop()
            if isinstance(obj, IndirectObject):
                key = (obj.idnum, obj.generation)
                if key in seen:
                    continue
                seen.add(key)
                if len(seen) % 200 == 0:
                    ctx.check_time()
                if len(seen) > ctx.limits.max_pdf_objects:
                    ctx.limit("limit_files", "pdf", variant="pdf_objects", limit=ctx.limits.max_pdf_objects)
                    return
                try:
                    resolved = obj.get_object()
                except Exception:  # noqa: S112 - hostile input fails in many ways; skipping it is the intent
                    continue
                if resolved is None:  # a reference that resolves to nothing: nothing to inspect
                    continue
                obj = resolved
            if isinstance(obj, DictionaryObject):
                self._inspect(obj)
                stack.extend(dict.values(obj))
            elif isinstance(obj, ArrayObject):
                stack.extend(list.__iter__(obj))

    def _target(self, context: str, target: str) -> None:
        if target and len(self.targets) < 4 * self.ctx.limits.max_urls:
            self.targets.append((context, target))

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def _inspect(self, obj: DictionaryObject) -> None:
        ctx = self.ctx
        action = obj.get("/S")
        if "/JS" in obj:
            self._count("javascript")
            script = _string(obj.get("/JS"))
            if script and len(self.javascript) < 20:
                self.javascript.append(script)
                ctx.add_text("pdf javascript", script)
        if action == "/Launch":
            target = _string(obj.get("/F")) or _string(_resolve(obj.get("/Win")))
            ctx.add("pdf_launch", target[:200])
        elif action in ("/GoToR", "/GoToE"):
            target = _string(obj.get("/F"))
            ctx.add("pdf_remote_goto", target[:200])
            self._target("pdf_action", target)
        elif action == "/URI":
            self._target("pdf_action", _string(obj.get("/URI")))
        elif action == "/SubmitForm":
            target = _string(obj.get("/F"))
            ctx.add("pdf_submit_form", target[:200])
            self._target("pdf_submit", target)
        if "/XFA" in obj:
            ctx.add("pdf_xfa", "XFA")
        if "/RichMedia" in obj or obj.get("/Subtype") == "/RichMedia":
            ctx.add("pdf_richmedia", "RichMedia")
        embedded = _resolve(obj.get("/EF"))
        if isinstance(embedded, DictionaryObject):
            self._embedded(obj, embedded)

    def _embedded(self, spec: DictionaryObject, ef: DictionaryObject) -> None:
        ctx = self.ctx
        name = _string(spec.get("/UF")) or _string(spec.get("/F")) or "embedded.bin"
        stream = _resolve(ef.get("/UF") or ef.get("/F"))
        if not isinstance(stream, StreamObject):
            return
        ctx.add("pdf_embedded_file", name[:200])
        params = _resolve(stream.get("/Params"))
        declared = params.get("/Size") if isinstance(params, DictionaryObject) else None
        size = int(declared) if isinstance(declared, int) else None
        if ctx.can_extract(name, size, None):
            data = stream.get_data()
            ctx.add_child(name, data, packed=len(stream._data or b"") or None)

    def report(self) -> None:
        count = self.counts.get("javascript", 0)
        if count:
            snippet = " ".join(self.javascript[0].split())[:120] if self.javascript else ""
            self.ctx.add("pdf_javascript", snippet, count=count)


def _resolve(obj: PdfObject | None) -> PdfObject | None:
    try:
        return obj.get_object() if isinstance(obj, IndirectObject) else obj
    except Exception:
        return None


def _string(obj: PdfObject | None) -> str:
    obj = _resolve(obj)
    if obj is None:
        return ""
    if isinstance(obj, StreamObject):
        try:
            return obj.get_data()[:1_000_000].decode("latin-1")
        except Exception:
            return ""
    if isinstance(obj, DictionaryObject):
        return _string(obj.get("/F")) or _string(obj.get("/UF"))
    if isinstance(obj, bytes):
        return obj.decode("latin-1")
    return str(obj)


def _action_link(action: PdfObject | None, context: str, ctx: ScanContext) -> None:
    """The URL a link action goes to: a URI, or the file a form is submitted to, a launch or a
    remote go-to opens (``pdf_submit`` for forms)."""
    action = _resolve(action)
    if not isinstance(action, DictionaryObject):
        return
    kind = action.get("/S")
    if kind == "/URI":
        add_reference(ctx, _string(action.get("/URI")), context)
    elif kind in ("/SubmitForm", "/Launch", "/GoToR"):
        add_reference(ctx, _string(action.get("/F")), "pdf_submit" if kind == "/SubmitForm" else context)


def _action_kinds(action: PdfObject | None, depth: int = 0) -> Iterator[str]:
    """The /S types of an action and its /Next chain."""
    action = _resolve(action)
    if depth > 10 or not isinstance(action, DictionaryObject):
        return
    kind = action.get("/S")
    if isinstance(kind, NameObject):
        yield str(kind)
    nxt = _resolve(action.get("/Next"))
    for item in nxt if isinstance(nxt, ArrayObject) else [nxt]:
        yield from _action_kinds(item, depth + 1)

"""Candidate passwords for encrypted attachments, found in the text of the message.

Attackers send password-protected archives so that gateways cannot look inside, and put the
password in the mail body for the victim ("Password: 4471", "Passwort lautet: 'Rg7q'", "mot de
passe : abc123"). We read those phrases in several languages, quoted tokens near them and
PIN/code patterns. The list is short and bounded: each candidate costs a decryption attempt.
"""

from __future__ import annotations

import re

from tap_core.model.message import Message
from tap_core.parsing.html import html_to_text

_KEYWORDS = (
    r"pass(?:word|wort|wd|code|phrase)?|pwd|pw|kennwort|mot\s+de\s+passe|mdp|contrase(?:ñ|n)a|clave|senha|"
    r"wachtwoord|parola(?:\s+d[i']\s*ordine)?|has(?:ł|l)o|l(?:ö|o)senord|adgangskode|passord|salasana|"
    r"пароль|密码|密碼|パスワード|(?:ş|s)ifre|heslo|jelsz(?:ó|o)|geslo|lozinka|mật\s+khẩu|kata\s+sandi|"
    r"pin(?:\s*code)?|code|c(?:ó|o)digo|access\s+code|unlock\s+code"
)
_JOINERS = r"(?:\s*(?:is|=|:|-|ist|lautet|est|es|é|è|ist:|is:|равен|:)\s*)*"
_QUOTES = "\"'“”‘’«»„`"
_TOKEN = rf"[^\s{_QUOTES}<>]{{2,64}}"
_AFTER_KEYWORD = re.compile(rf"(?:{_KEYWORDS})\b{_JOINERS}[{_QUOTES}]?({_TOKEN})", re.I | re.U)
# "Senha de acesso: 123", "Password for the archive: X": a few short words, then a colon.
_AFTER_WORDS = re.compile(
    rf"(?:{_KEYWORDS})(?:\s+[^\s:=]{{1,14}}){{1,3}}\s*[:=]\s*[{_QUOTES}]?({_TOKEN})", re.I | re.U
)
_AFTER_SPACE = re.compile(rf"(?:{_KEYWORDS})\s+({_TOKEN})", re.I | re.U)
# Linear forms of "[a-z].*[A-Z]" and "[A-Z].*[a-z].*[A-Z]" (same strings match): each scan ends at
# the next letter of the case it waits for, instead of running to the end from every letter.
_PASSWORD_LIKE = re.compile(r"\d|[^\w\s]|[a-z][^A-Za-z\n]*+[A-Z]|[A-Z](?>[^A-Z\n]*?[a-z])[^A-Z\n]*+[A-Z]")
_QUOTED = re.compile(rf"[{_QUOTES}]([^{_QUOTES}\r\n]{{2,64}})[{_QUOTES}]", re.U)
_KEYWORD = re.compile(rf"(?:{_KEYWORDS})\b", re.I | re.U)
# Spaces, a colon, spaces on the keyword's line, then the token after any blank lines: three
# "\s*" in a row (newlines included) tried every split of a whitespace run (seconds per keyword).
_NEXT_LINE = re.compile(rf"(?:{_KEYWORDS})[^\S\n]*+:?[^\S\n]*+\r?\n\s*+[{_QUOTES}]?({_TOKEN})", re.I | re.U)
_PIN = re.compile(r"\b(?:pin|code|passcode|otp)\b\D{0,12}?(\d{3,10})\b", re.I)
_STOPWORDS = frozenset(
    """is the for to of and or in on a an be it this that your you below above attached file files
    archive document zip rar protected protection required needed following here same as
    ist der die das und ist: lautet für est le la les de du pour ci-dessous es el la para del
    é o a para abaixo is: reset expired expires change changed forgot please""".split()
)
_TRAILING = ".,;:!?)]}>"
def candidate_passwords(text: str, limit: int = 20) -> list[str]:
    """Likely passwords mentioned in ``text``, first seen first, at most ``limit``."""
    found: list[str] = []

    def keep(token: str) -> None:
        token = token.strip().strip(_QUOTES)
        # Keep the token as written and without trailing punctuation ("4471." ends a sentence).
        for variant in (token, token.rstrip(_TRAILING).strip(_QUOTES)):
            if 2 <= len(variant) <= 64 and variant.lower() not in _STOPWORDS and variant not in found:
                found.append(variant)

    text = text[:200_000]
    for match in _AFTER_KEYWORD.finditer(text):
        keep(match.group(1))
    for match in _AFTER_WORDS.finditer(text):
        keep(match.group(1))
    for match in _AFTER_SPACE.finditer(text):
        # "password Xy7k2" without a colon: only tokens that look like passwords.
        if _PASSWORD_LIKE.search(match.group(1)):
            keep(match.group(1))
    for match in _NEXT_LINE.finditer(text):
        keep(match.group(1))
    for match in _PIN.finditer(text):
        keep(match.group(1))
    for keyword in _KEYWORD.finditer(text):
        # A quoted token shortly after the keyword: 'the password for the file is "Xy12!"'.
        window = text[keyword.end() : keyword.end() + 120]
        for quoted in _QUOTED.finditer(window):
            keep(quoted.group(1))
        if len(found) >= limit * 2:
            break
    return found[:limit]


def message_passwords(message: Message, limit: int = 20) -> list[str]:
    """Candidates from the subject, the text body and the visible text of the HTML body."""
    parts = [message.subject or "", message.text_body or ""]
    if message.html_body:
        parts.append(html_to_text(message.html_body))
    return candidate_passwords("\n".join(parts), limit=limit)

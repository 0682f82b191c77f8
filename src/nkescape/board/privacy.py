"""Data minimisation: what a note may hold, and how long a closed journey is kept.

The ICRC Handbook on Data Protection in Humanitarian Action asks for the minimum needed, kept
briefly. The board has no field for a name, a phone number, an address or a place more exact than
the atlas's; the one free-text field, a check-in's note, is short and refused when it holds what
looks like a way to find or reach someone: a phone number, an e-mail address or messenger handle,
coordinates, a web address, a document number. The checks are deliberately eager (a long number
of any kind is refused): a note that is refused costs a rewording, one that leaks can cost lives.

They cannot catch everything (a number spelt out in words, a street named in passing); the
message says what the note must leave out, so that people learn the rule, not the detector.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nkescape.board.errors import RefusedError

__all__ = ["NOTE_MAX", "RETENTION_DAYS", "check_note", "findings"]

# A note is a status line for the coordinator, not a report: "waiting for the river to freeze,
# 2 days" is 40 characters. 140 (an SMS-era tweet) holds a sentence or two, what a partner on a
# phone types, and leaves little room to tell a story that identifies anyone.
NOTE_MAX = 140

# Days a closed journey is kept before `purge` deletes it: long enough for the follow-up after
# arrival (reception centre, a late payment, a report to a donor), short enough that a seized
# board holds little history. Organisations set their own in their DPIA (docs/dpia.md).
RETENTION_DAYS = 30

# Seven digits make a local phone number in most countries; fifteen are E.164's most.
_PHONE_MIN_DIGITS = 7
_PHONE_MAX_DIGITS = 15
# A run of this many digits is a document, account or phone number rather than a count, a
# price or a year (prices can be written with thousands separators, 1,500,000).
_LONG_DIGITS = 7

# A date as people write them: 2017-09-01, 2017/9/1, 01.09.2017 (groups: year first, or last).
_DATE = re.compile(
    r"(?<![\d.,/-])(?:(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})|(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}))"
    r"(?![\d.,/-])"
)
# The years a note's date can speak of: the atlas's (schema FIRST_YEAR-LAST_YEAR).
_YEARS = range(1900, 2101)
# What joins a phone number's groups: a date next to a digit group this way is part of a number.
_JOINERS = " .-/()"
_MONTHS, _DAYS = range(1, 13), range(1, 32)
_GROUP_BEFORE = re.compile(r"(\+?)(\d+)$")
_EMAIL = re.compile(r"[^\s@<>()\[\],;:]+@[^\s@<>()\[\],;:\"']+\.[a-z]{2,}", re.I)
# Spelt out to pass filters: kim (at) example (dot) org, kim [at] example.org.
_EMAIL_SPELT = re.compile(r"\w+\s*[(\[{]\s*at\s*[)\]}]\s*\w+", re.I)
_HANDLE = re.compile(r"(?<![\w@])@[a-z0-9_][a-z0-9_.]{1,}", re.I)
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.|\bgeo:|///[a-z]+\.[a-z]+\.[a-z]+)", re.I)
_NUM = r"\d{1,3}(?:[.,]\d+)?"
_HEMI = r"[NSEW]"
# Degrees with minutes (and seconds), or "41d48m": 41°48'12"N, 41° 48.2' N, 41d48m12s.
_DMS = re.compile(
    r"\d{1,3}\s*(?:°|º|˚|deg\b|d)\s*\d{1,2}(?:[.,]\d+)?\s*(?:'|\u2032|\u2019|m\b|min\b|m)"
    r"(?:\s*\d{1,2}(?:[.,]\d+)?\s*(?:\"|\u2033|\u201d|''|s\b|sec\b|s))?",
    re.I,
)
# A degree with a hemisphere: 41.8N, 128°E, 128.25 ° E, N 41.8. Case matters (a capital
# hemisphere letter), and a bare degree sign does not count: -20°C is the weather.
_DEGREE = re.compile(
    rf"(?:{_NUM}\s*(?:°|º|˚)\s*{_HEMI}\b|\d{{1,3}}[.,]\d+\s*{_HEMI}\b"
    rf"|\b{_HEMI}\s*\d{{1,3}}[.,]\d+)"
)
# Two decimal numbers with two or more decimals side by side: 41.81, 128.25 (a map's copy).
_PAIR = re.compile(r"[-+]?\d{1,3}\.\d{2,}\s*[,;/ ]\s*[-+]?\d{1,3}\.\d{2,}")
_LATLON = re.compile(r"\b(?:lat|latitude|lon|lng|long|longitude)\b\s*[:=]?\s*[-+]?\d", re.I)
# A passport or ID card: one or two letters then 6-9 digits (G12345678, EA1234567, M1234567).
_PASSPORT = re.compile(r"(?<![\w])[a-z]{1,2}-?\d{6,9}(?![\w])", re.I)
# A Korean resident registration number, 6 and 7 digits: 900101-1234567.
_REGISTRATION = re.compile(r"(?<!\d)\d{6}\s?-\s?\d{7}(?!\d)")
_LONG_RUN = re.compile(rf"\d{{{_LONG_DIGITS},}}")
# A phone number: digits with the separators people write them with, optionally +country.
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d(?:[\d]|[ .\-()/](?=[\d(]))+\d(?![\w])")


@dataclass(frozen=True)
class Finding:
    """Something a note holds that it must not: what it looks like, and where."""

    kind: str
    start: int
    end: int


# Kinds in the order a message lists them, and the words it uses.
_KINDS = (
    "a phone number",
    "an e-mail address",
    "a messenger handle",
    "a web address",
    "coordinates",
    "a document number",
    "a long number (a phone, document or account number)",
)


def _phone_like(text: str) -> list[Finding]:
    out = []
    for m in _PHONE.finditer(text):
        number = m.group()
        digits = sum(ch.isdigit() for ch in number)
        # A bare run of digits is left to the long-number check, which names it as such.
        written = number.startswith("+") or not number.isdigit()
        if written and _PHONE_MIN_DIGITS <= digits <= _PHONE_MAX_DIGITS:
            out.append(Finding("a phone number", m.start(), m.end()))
    return out


def _blank_date(m: re.Match[str]) -> str:
    """A real date as blanks (so it does not read as a number); anything else unchanged."""
    year, a, b = (m.group(1), m.group(2), m.group(3)) if m.group(1) else m.group(6, 4, 5)
    whole = m.group()
    plausible = (
        int(year) in _YEARS
        and all(int(x) in _DAYS for x in (a, b))
        and (int(a) in _MONTHS or int(b) in _MONTHS)
    )
    # "+1 10-12-2017" or "0912 10.12.2017" is a number's tail, not a date ("leg 3 2017-09-01"
    # is a date: one digit before it is a count).
    joined = m.start() > 0 and m.string[m.start() - 1] in _JOINERS
    group = _GROUP_BEFORE.search(m.string[: m.start()].rstrip(_JOINERS)) if joined else None
    tail = group is not None and bool(group.group(1) or len(group.group(2)) > 1)
    return " " * len(whole) if plausible and not tail else whole


def findings(text: str) -> list[Finding]:
    """Everything in ``text`` that a note must not hold (an empty list for a clean note).

    The text is read in NFKC form, so that full-width digits and look-alike letters count as
    the ASCII ones they stand for; dates written as ISO dates are allowed.
    """
    flat = unicodedata.normalize("NFKC", text)
    # A date (2017-09-01) is fine in a note; blanked so it does not read as a phone number.
    flat = _DATE.sub(_blank_date, flat)
    found: list[Finding] = []
    for pattern, kind in (
        (_EMAIL, "an e-mail address"),
        (_EMAIL_SPELT, "an e-mail address"),
        (_HANDLE, "a messenger handle"),
        (_URL, "a web address"),
        (_DMS, "coordinates"),
        (_DEGREE, "coordinates"),
        (_PAIR, "coordinates"),
        (_LATLON, "coordinates"),
        (_PASSPORT, "a document number"),
        (_REGISTRATION, "a document number"),
    ):
        found += [Finding(kind, m.start(), m.end()) for m in pattern.finditer(flat)]
    # A number already read as something else is not also a phone number.
    taken = [(f.start, f.end) for f in found]
    for f in _phone_like(flat):
        if not any(a < f.end and f.start < b for a, b in taken):
            found.append(f)
    for m in _LONG_RUN.finditer(flat):
        if not any(a < m.end() and m.start() < b for a, b in [(f.start, f.end) for f in found]):
            found.append(Finding(_KINDS[-1], m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


def _control(text: str) -> str | None:
    """The first control or invisible formatting character, named, or None."""
    for ch in text:
        # Cc: controls (newlines too: a note is one line); Cf: invisible formatting, such as
        # zero-width spaces and bidirectional overrides, which can hide or reorder what is shown.
        if unicodedata.category(ch) in ("Cc", "Cf"):
            return f"U+{ord(ch):04X}"
    return None


def check_note(text: str) -> str:
    """The note to store (trimmed, NFC), or RefusedError saying what it must leave out.

    Parameters
    ----------
    text
        What a partner or coordinator wrote with a check-in.

    Returns
    -------
    str
        The note without surrounding blanks; an empty string means no note.

    Raises
    ------
    RefusedError
        For a note longer than ``NOTE_MAX`` characters, one with a control character, or one
        holding what looks like a phone number, an e-mail address or messenger handle, a web
        address, coordinates or a document number. The message names what was found and where,
        never repeating it (messages end up in logs).

    Examples
    --------
    >>> check_note("  waiting for the river to freeze, 2 days ")
    'waiting for the river to freeze, 2 days'
    >>> check_note("call +86 138 0013 8000")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nkescape.board.errors.RefusedError: the note holds what looks like a phone number ...
    """
    note = unicodedata.normalize("NFC", text.strip())
    bad = _control(note)
    if bad is not None:
        raise RefusedError(
            f"the note holds a control or invisible character ({bad}); write it as one line "
            "of plain text"
        )
    if len(note) > NOTE_MAX:
        raise RefusedError(
            f"the note is {len(note)} characters; keep it to {NOTE_MAX} (a short status, "
            "nothing that identifies anyone)"
        )
    found = findings(note)
    if found:
        kinds = [k for k in _KINDS if any(f.kind == k for f in found)]
        what = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
        first = found[0]
        where = f"characters {first.start + 1}-{first.end}"
        raise RefusedError(
            f"the note holds what looks like {what} ({where}); leave "
            f"{'it' if len(found) == 1 else 'them'} out: notes must not say how to reach, find "
            "or identify anyone"
        )
    return note

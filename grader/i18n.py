"""Messages in the course's language: the one seam every person-facing text goes through.

Mark text with `_()` and `ngettext()` and fill it with named placeholders
(`_("{n} clients connected").format(n=n)`), never an f-string inside `_()` (tests/test_i18n.py lints for it).

The language is resolved once per process (`resolve()`: `--lang`, then `language:` in grader.yaml, then, for
`grader check`, the user's environment) and set with `use()`; the catalog is the package's own
(`gettext.translation("grader", localedir=<package>/locale, languages=[...], fallback=True)`), never the
global text domain, so importing the grader changes nothing for anyone else in the process. Child processes
(the pytest session, batch workers) get the language explicitly (`--grader-lang`), not through the
environment, and the student's process always runs with `LC_ALL=C.UTF-8` whatever the language.

Text evaluated at import time (tables of labels) is marked with `N_()` and translated where it is used
(`_(LABEL[key])`).

English is the source language: `en` uses no catalog at all, so its output is byte for byte the msgids.
"""

from __future__ import annotations

import gettext
import io
import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path

DOMAIN = "grader"
LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT = "en"
# user-facing tag -> gettext locale folder
AVAILABLE: dict[str, str] = {"en": "en", "zh-CN": "zh_CN"}
# the environment's spellings (zh_CN.UTF-8, zh-Hans, zh) of an available language
_ALIASES = {"en": "en", "c": "en", "posix": "en", "zh": "zh-CN", "zh-cn": "zh-CN", "zh-hans": "zh-CN",
            "zh-sg": "zh-CN", "zh-hans-cn": "zh-CN"}

_current: gettext.NullTranslations = gettext.NullTranslations()
_language = DEFAULT


def normalize(tag: str | None) -> str | None:
    """`zh_CN.UTF-8`, `zh-cn`, `zh` -> `zh-CN`; `en_US` -> `en`; None when no available language matches."""
    if not tag:
        return None
    t = tag.strip().split(".")[0].split("@")[0].replace("_", "-").lower()
    if not t:
        return None
    if t in _ALIASES:
        return _ALIASES[t]
    base = t.split("-")[0]
    if base == "en":
        return "en"
    return None


def from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The language the user's locale asks for: LANGUAGE (a colon list), LC_ALL, LC_MESSAGES, LANG, as gettext
    reads them (the first one set wins); None when it names no available language."""
    env = os.environ if environ is None else environ
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if not value:
            continue
        for tag in value.split(":"):
            lang = normalize(tag)
            if lang:
                return lang
        if var != "LANGUAGE":  # a set LC_ALL/LC_MESSAGES/LANG decides, even when we have no catalog for it
            return None
    return None


class UnknownLanguage(ValueError):
    """A language the grader has no catalog for (grader.cli reports it as a usage error, exit 2)."""


def resolve(flag: str | None = None, course: str | None = None, *, use_environment: bool = False,
            environ: Mapping[str, str] | None = None) -> str:
    """The language of this process: `--lang`, else grader.yaml's `language:`, else (for `grader check`) the
    environment, else English. An unknown `--lang` or `language:` is an UnknownLanguage listing the available
    ones (the command line turns it into a UsageError: this module is below grader.errors and imports nothing)."""
    for given, where in ((flag, "--lang"), (course, "language: in grader.yaml")):
        if given:
            lang = normalize(given)
            if lang is None:
                raise UnknownLanguage(_("unknown language '{lang}' ({where}); available: {available}").format(
                    lang=given, where=where, available=", ".join(AVAILABLE)))
            return lang
    if use_environment:
        return from_environment(environ) or DEFAULT
    return DEFAULT


def translations(lang: str) -> gettext.NullTranslations:
    """The package's catalog for `lang` (English: none, the msgids are the text)."""
    folder = AVAILABLE.get(lang)
    if folder is None or lang == DEFAULT:
        return gettext.NullTranslations()
    mo = LOCALE_DIR / folder / "LC_MESSAGES" / f"{DOMAIN}.mo"
    po = mo.with_suffix(".po")
    if po.is_file() and (not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime):
        # a source checkout whose catalog changed since `make i18n`: compile it in memory (Babel, a dev tool)
        data = compile_po(po)
        if data is not None:
            return gettext.GNUTranslations(io.BytesIO(data))
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[folder], fallback=True)


def compile_po(po: Path) -> bytes | None:
    """The .mo bytes of a .po file (Babel), or None without Babel. Fuzzy entries are left out, as msgfmt does."""
    try:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po
    except ImportError:
        return None
    with po.open("rb") as f:
        catalog = read_po(f)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def use(lang: str) -> None:
    """Set this process's language (once, where the command line is read)."""
    global _current, _language
    _current = translations(lang)
    _language = lang


def language() -> str:
    """The language of this process: `en` or `zh-CN`."""
    return _language


def _(message: str) -> str:
    return _current.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _current.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark text for extraction without translating it now (module-level text, translated at use)."""
    return message


def width(text: str) -> int:
    """Columns `text` takes in a terminal: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 0 if unicodedata.combining(c) else 1
               for c in text)


def ljust(text: str, columns: int) -> str:
    """`text` padded with spaces to `columns` display columns (str.ljust counts characters)."""
    return text + " " * max(0, columns - width(text))

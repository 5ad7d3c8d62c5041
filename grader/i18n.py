"""Messages in the course's language: the one seam every person-facing text goes through.

Mark text with `_()` and `ngettext()` and fill it with named placeholders
(`_("{n} clients connected").format(n=n)`), never an f-string inside `_()`.
"""

from __future__ import annotations


def _(message: str) -> str:
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def N_(message: str) -> str:
    """Mark text for extraction without translating it now (module-level text, translated at use)."""
    return message

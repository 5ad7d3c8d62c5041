"""Person-facing text of a spec in more than one language.

A text field of `assignment.yaml` (the spec's `title` and `description`, a behaviour's `title` and `hint`, a
check's `requirement` parameter) is either a plain string (English) or one string per language:

    title:
      en: echoes every message upper-cased
      zh-CN: 把每条消息转换为大写后发回

The loader keeps the text in the process's language (grader/i18n.py). Text missing in that language falls
back to English (else to the language it has), marked `[en] ` so that nobody mistakes it for a translation,
and is listed by `grader validate` with file and line; it never fails a grading run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import i18n
from grader.errors import SpecError
from grader.i18n import _
from grader.spec.yamlload import line_of

SPEC_TEXT = ("title", "description")
BEHAVIOUR_TEXT = ("title", "hint")
PARAM_TEXT = ("requirement",)


@dataclass(frozen=True)
class Untranslated:
    path: str
    line: int | None
    where: str
    language: str

    def __str__(self) -> str:
        loc = f"{self.path}:{self.line}" if self.line else self.path
        return _("{location}: {where}: no {language} text (shown in English, marked [en]); add "
                 "{language}: ... beside en:").format(location=loc, where=self.where, language=self.language)


def localize(data: Any, node: Any, path: Path, lang: str | None = None) -> tuple[Any, tuple[Untranslated, ...]]:
    """`data` with every text field reduced to the string for `lang` (default: the process's language), and
    the fields that had no text in it. `data` itself is not changed."""
    lang = lang or i18n.language()
    missing: list[Untranslated] = []

    def pick(value: Any, loc: tuple[Any, ...], where: str) -> Any:
        if isinstance(value, dict):
            texts: dict[str, Any] = {}
            for key, text in value.items():
                norm = i18n.normalize(str(key))
                if norm is None:
                    raise SpecError(path, line_of(node, loc + (key,), unknown_key=True), where,
                                    _("unknown language '{lang}' (available: {available})").format(
                                        lang=key, available=", ".join(i18n.AVAILABLE)))
                if not isinstance(text, str):
                    raise SpecError(path, line_of(node, loc + (key,)), where,
                                    _("the {lang} text must be a string").format(lang=key))
                texts[norm] = text
            if lang in texts:
                return texts[lang]
            if not texts:
                return ""
            fallback = i18n.DEFAULT if i18n.DEFAULT in texts else next(iter(texts))
            missing.append(Untranslated(str(path), line_of(node, loc), where, lang))
            return f"[{fallback}] {texts[fallback]}" if texts[fallback].strip() else texts[fallback]
        if isinstance(value, str) and value.strip() and lang != i18n.DEFAULT:
            missing.append(Untranslated(str(path), line_of(node, loc), where, lang))
            return f"[{i18n.DEFAULT}] {value}"
        return value

    if not isinstance(data, dict):
        return data, ()
    out = dict(data)
    for key in SPEC_TEXT:
        if key in out:
            out[key] = pick(out[key], (key,), key)
    behaviours = out.get("behaviours")
    if isinstance(behaviours, list):
        out["behaviours"] = []
        for i, b in enumerate(behaviours):
            if isinstance(b, dict):
                b = dict(b)
                name = f"behaviour '{b.get('id')}'" if b.get("id") else f"behaviour #{i + 1}"
                for key in BEHAVIOUR_TEXT:
                    if key in b:
                        b[key] = pick(b[key], ("behaviours", i, key), f"{name}.{key}")
                params = b.get("params")
                if isinstance(params, dict):
                    params = dict(params)
                    for key in PARAM_TEXT:
                        if key in params:
                            params[key] = pick(params[key], ("behaviours", i, "params", key),
                                               f"{name}.params.{key}")
                    b["params"] = params
            out["behaviours"].append(b)
    return out, tuple(missing)

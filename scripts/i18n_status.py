#!/usr/bin/env python3
"""What the zh-CN catalog still lacks: msgids in the code but not in the .po (run `make i18n` first), and
entries untranslated, fuzzy, or with placeholders that differ from the msgid's. Exit 1 when anything is
missing. `make i18n` runs it after re-extracting; tests/test_i18n.py asserts the same things.

    .venv/bin/python scripts/i18n_status.py          # the checked-in catalog against a fresh extraction
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "grader" / "locale" / "zh_CN" / "LC_MESSAGES" / "grader.po"
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:[:!][^{}]*)?\}(?!\})")


def extract() -> set[str | tuple[str, ...]]:
    """Every msgid the code marks today (pybabel extract with the project's babel.cfg)."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "grader"), method_map, options_map, keywords=DEFAULT_KEYWORDS):
        found.add(message)
    return found


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def problems(po: Path = PO, wanted: set | None = None) -> dict[str, list[str]]:
    with po.open("rb") as f:
        catalog = read_po(io.BytesIO(f.read()))
    out: dict[str, list[str]] = {"not in the catalog": [], "untranslated": [], "fuzzy": [],
                                 "placeholders differ": []}
    have = {m.id for m in catalog if m.id}
    for mid in sorted(wanted - have if wanted is not None else (), key=str):
        out["not in the catalog"].append(str(mid))
    for m in catalog:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if m.fuzzy:
            out["fuzzy"].append(ids[0])
        if not all(strings):
            out["untranslated"].append(ids[0])
            continue
        want = placeholders(ids[-1])
        if any(placeholders(s) != want for s in strings) or placeholders(ids[0]) - want:
            out["placeholders differ"].append(ids[0])
    return out


def main() -> int:
    found = problems(PO, extract())
    bad = 0
    for kind, ids in found.items():
        for mid in ids:
            print(f"{kind}: {mid!r}")
        bad += len(ids)
    print(f"{PO.relative_to(ROOT)}: {bad} problem(s)" if bad else f"{PO.relative_to(ROOT)}: complete")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

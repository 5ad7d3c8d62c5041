"""The behaviour library described from the registry itself (docs/checks.md is generated from this)."""

from __future__ import annotations

from grader.checks import library


def _type_name(ann: object) -> str:
    text = repr(ann) if not isinstance(ann, type) else ann.__name__
    return text.replace("typing.", "").replace("NoneType", "None")


def checks_markdown() -> str:
    out = ["# The behaviour library", "",
           "Generated from the code by `grader list --checks --markdown` (a test keeps it in sync).",
           "Use a check in a spec with `check: NAME` and set its parameters under `params:`.", ""]
    checks = library()
    for name in sorted(checks):
        c = checks[name]
        static = " (static: reads the source, runs nothing)" if not c.needs_run else ""
        out += [f"## `{name}`", "", f"{c.doc}", "", f"For {' and '.join(c.kinds)} assignments{static}.", ""]
        fields = c.params.model_fields
        if not fields:
            out += ["No parameters.", ""]
            continue
        out += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
        for fname, f in fields.items():
            default = "required" if f.is_required() else f"`{f.get_default(call_default_factory=True)!r}`"
            ann = _type_name(f.annotation)
            desc = (f.description or "").replace("|", "\\|")
            out.append(f"| `{fname}` | `{ann}` | {default} | {desc} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"




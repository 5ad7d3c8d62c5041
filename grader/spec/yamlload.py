"""Load YAML safely and turn pydantic validation errors into `file:line: key: message (did you mean …?)`."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from grader.errors import SpecError
from grader.i18n import _

M = TypeVar("M", bound=BaseModel)
# libyaml's loader where PyYAML was built with it (its wheels are): the same data, nodes and marks, ~10x
# faster than the pure-Python one (a spec is read by every grading session)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Return (data, node tree); the node tree carries the line of every key and value."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, None, "", _("file not found")) from None
    except UnicodeDecodeError as exc:
        raise SpecError(path, None, "", _("not UTF-8 text ({reason})").format(reason=exc.reason)) from None
    try:
        loader = SAFE_LOADER(text)  # one parse: the data is constructed from the node tree it gives
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or _("invalid YAML")
        raise SpecError(path, line, "", _("YAML syntax: {problem} (check the indentation and that every 'key: value' "
                                          "has a space after the colon)").format(problem=problem)) from None
    except yaml.YAMLError as exc:
        raise SpecError(path, None, "", _("YAML syntax: {problem}").format(problem=exc)) from None
    return data, node


def _child(node: yaml.Node | None, key: Any, *, want_key: bool = False) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return k if want_key else v
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key]
    return None


def line_of(node: yaml.Node | None, loc: tuple[Any, ...], *, unknown_key: bool = False) -> int | None:
    """The 1-based line of the value at `loc` (or of the key itself when it is an unknown key)."""
    best = node
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        nxt = _child(best, part, want_key=unknown_key and last)
        if nxt is None:
            break
        best = nxt
    return best.start_mark.line + 1 if best is not None else None


def _describe(data: Any, loc: tuple[Any, ...]) -> str:
    """`behaviour 'idle_cpu'` reads better than `behaviours.5`."""
    parts: list[str] = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
            ident = cur.get("id") if isinstance(cur, dict) else None
            parent = loc[i - 1] if i else "item"
            noun = str(parent).rstrip("s") if isinstance(parent, str) else "item"
            parts[-1:] = [f"{noun} '{ident}'" if ident else f"{noun} #{part + 1}"]
        elif isinstance(cur, dict):
            cur = cur.get(part)
            parts.append(str(part))
        else:
            parts.append(str(part))
    return ".".join(parts)


def validate(model: type[M], data: Any, node: yaml.Node | None, path: Path, *, context: dict | None = None,
             loc_prefix: tuple[Any, ...] = ()) -> M:
    """Validate `data` into `model`; the first error becomes a SpecError with file, line, key and a fix."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise spec_error_from(exc, model, data, node, path, loc_prefix) from None


def spec_error_from(exc: ValidationError, model: type[BaseModel], data: Any, node: yaml.Node | None,
                    path: Path, loc_prefix: tuple[Any, ...] = ()) -> SpecError:
    # A misspelt key also shows up as a missing one: report the misspelling, whose fix explains both.
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = loc_prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    unknown = err["type"] == "extra_forbidden"
    line = line_of(node, loc, unknown_key=unknown)
    where = _describe(data, loc[:-1] if unknown else loc)
    if unknown:
        key = loc[-1]
        allowed = _allowed_keys(model, loc[len(loc_prefix):-1])
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        fix = (_(" (did you mean '{name}'?)").format(name=close[0]) if close
               else _(" (allowed keys: {keys})").format(keys=", ".join(sorted(allowed))))
        return SpecError(path, line, where, _("unknown key '{key}'{fix}").format(key=key, fix=fix))
    if err["type"] == "missing":
        return SpecError(path, line, _describe(data, loc[:-1]), _("missing required key '{key}'").format(key=loc[-1]))
    msg = err["msg"]
    if err["type"] == "literal_error":
        msg = _("{message}, got {value}").format(message=msg, value=repr(err.get("input")))
    return SpecError(path, line, where, msg)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Walk the model's fields along `loc` to find the model that owns the unknown key."""
    import typing

    cur: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(cur, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        for _depth in range(3):  # unwrap list[X] / X | None
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                break
            if not args:
                break
            ann = args[0]
        cur = ann
    fields = getattr(cur, "model_fields", {})
    return [f.alias or name for name, f in fields.items()]

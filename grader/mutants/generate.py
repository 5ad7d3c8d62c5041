"""Every mutant of a source: each operator at each of its sites, duplicates and trivial equivalents removed.

Two mutants are the same when their normalised ASTs or their bytecode are equal; a mutant equal to the
original that way (e.g. `conn.close` without parentheses where the original had a bare expression anyway)
is trivially equivalent. Normalising drops statements that do nothing (a bare name, attribute or constant:
`conn.close` without the parentheses *is* a deleted `conn.close()`), so only mutants that really differ are
graded. A mutant that does not compile is stillborn and never graded. Nothing here runs the code: `compile`
only translates it.
"""

from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import types
from dataclasses import dataclass, field

from grader.i18n import _
from grader.mutants.operators import OPERATORS


@dataclass
class Mutant:
    id: str  # operator-L<line>[b, c, ...]: the operator and the first changed line of the normalised source
    operator: str
    description: str
    line: int
    source: str
    diff: str
    fingerprint: str  # short hash of the normalised AST: a reviewed equivalent entry names it
    stillborn: str = ""  # why it can never run (a SyntaxError found by compile), "" if it compiles


@dataclass
class Removed:
    operator: str
    description: str
    same_as: str  # a mutant id, or "original"


@dataclass
class Generation:
    original: str  # the reference as the mutants are written (ast.unparse: comments and layout dropped)
    operators: list[str] = field(default_factory=list)  # the operators applied
    mutants: list[Mutant] = field(default_factory=list)
    duplicates: list[Removed] = field(default_factory=list)  # same as an earlier mutant
    trivial: list[Removed] = field(default_factory=list)  # same as the original


class _DropNoOps(ast.NodeTransformer):
    """Statements with no effect (bare names, attributes, constants, `pass` among others) removed."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and all(isinstance(s, ast.stmt) for s in block):
                kept = [s for s in block if not _no_op(s)]
                setattr(node, name, kept or ([ast.Pass()] if name == "body" else []))
        return node


def _no_op(node: ast.stmt) -> bool:
    """A statement that does nothing: `pass`, a bare name / attribute / constant, or a loop over a name
    whose body does nothing (what is left of `for g in gs: g.join()` without the join)."""
    if isinstance(node, ast.For) and isinstance(node.iter, ast.Name) and not node.orelse:
        return all(_no_op(s) for s in node.body)
    return isinstance(node, ast.Pass) or (
        isinstance(node, ast.Expr) and isinstance(node.value, (ast.Name, ast.Attribute, ast.Constant)))


def normalised(tree: ast.Module) -> ast.Module:
    return ast.fix_missing_locations(_DropNoOps().visit(copy.deepcopy(tree)))


def ast_key(tree: ast.Module) -> str:
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def bytecode_key(tree: ast.Module) -> object:
    """The compiled module without line numbers or names of the file: equal keys run the same bytecode."""
    def key(code: types.CodeType) -> tuple:
        consts = tuple(key(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c))
                       for c in code.co_consts)
        return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)
    return key(compile(tree, "<mutant>", "exec", dont_inherit=True))


def _first_changed_line(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False), start=1):
        if x != y:
            return i
    return min(len(a.splitlines()), len(b.splitlines())) + 1


def unified_diff(original: str, mutant: str, filename: str) -> str:
    return "".join(difflib.unified_diff(original.splitlines(keepends=True), mutant.splitlines(keepends=True),
                                        f"a/{filename}", f"b/{filename}", n=2))


def generate(source: str, operators: list[str], filename: str = "server.py") -> Generation:
    """Every distinct mutant of `source` made by the named operators, in operator order then source order.

    Raises SyntaxError if `source` itself does not parse."""
    tree = ast.parse(source)
    original = ast.unparse(tree) + "\n"
    base = normalised(ast.parse(original))
    seen_ast: dict[str, str] = {ast_key(base): "original"}
    seen_code: dict[object, str] = {bytecode_key(base): "original"}
    gen = Generation(original=original, operators=list(operators))
    taken: set[str] = set()
    for name in operators:
        work = ast.parse(original)
        for description in OPERATORS[name](work):
            text = ast.unparse(ast.fix_missing_locations(work)) + "\n"
            if text == original:
                gen.trivial.append(Removed(name, description, "original"))
                continue
            mutated = ast.parse(text)
            norm = normalised(mutated)
            akey = ast_key(norm)
            fingerprint = hashlib.sha256(akey.encode()).hexdigest()[:10]
            stillborn = ""
            try:
                ckey: object = bytecode_key(norm)
            except SyntaxError as exc:  # e.g. `continue` moved out of its loop
                ckey = ("syntax", akey)
                stillborn = _("SyntaxError: {msg} (line {line})").format(msg=exc.msg, line=exc.lineno)
            same = seen_ast.get(akey) or seen_code.get(ckey)
            if same is not None:
                (gen.trivial if same == "original" else gen.duplicates).append(Removed(name, description, same))
                continue
            line = _first_changed_line(original, text)
            mid = f"{name}-L{line}"
            suffix = 1
            while mid in taken:
                suffix += 1
                mid = f"{name}-L{line}{chr(ord('a') + suffix - 1)}"
            taken.add(mid)
            seen_ast[akey] = mid
            seen_code[ckey] = mid
            gen.mutants.append(Mutant(mid, name, description, line, text, unified_diff(original, text, filename),
                                      fingerprint, stillborn))
    return gen

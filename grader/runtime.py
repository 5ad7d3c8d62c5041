"""The interpreter submissions run with: the grader's own, or a *student runtime* beside it.

Every behaviour starts the submission's interpreter, and an interpreter started from the grader's virtual
environment pays for everything the grader installs: `site` runs each `.pth` file (an editable install's
import hook: ~9 ms of CPU), and gevent's `monkey.patch_all()` reads the entry points of every installed
distribution (51 in the dev venv) looking for plugins. A student runtime is a virtual environment of the
same Python holding only gevent and what gevent needs, at the same versions as the grader's (no pip, no
setuptools, nothing of the grader); `make setup` builds it at `<the grader's venv>/student`:

    python -m grader.runtime create [DIR]     # DIR: default <sys.prefix>/student
    python -m grader.runtime show             # which interpreter submissions run with, and why

`student_python()` is what the sandboxes exec: the runtime's interpreter when `<sys.prefix>/student` holds
one that matches the grader (the same Python version, and each of its packages at the version the grader
has), else the grader's own interpreter (`sys.executable`), which has everything a submission may import.
A runtime that exists but does not match is a usage error naming the difference and the fix, never
silently replaced: a submission is graded with what the course installed, or not at all.
`GRADER_STUDENT_PYTHON` names an interpreter explicitly (checked the same way).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from grader.errors import UsageError

PACKAGES = ("gevent",)  # what submissions may import beyond the standard library (with their requirements)
ENV = "GRADER_STUDENT_PYTHON"


def default_dir() -> Path:
    return Path(sys.prefix) / "student"


def closure(roots: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """name -> version of `roots` and everything they require on this platform, as the grader has them."""
    from packaging.requirements import Requirement

    out: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        dist = metadata.distribution(name)
        key = dist.metadata["Name"]
        if key in out:
            continue
        out[key] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return out


def _site_packages(venv: Path) -> list[Path]:
    return sorted(venv.glob("lib/python*/site-packages"))


def _normal(name: str) -> str:
    """A distribution name as PEP 503 compares them (zope.interface = zope_interface = Zope-Interface)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _cfg(venv: Path) -> dict[str, str]:
    out = {}
    for line in (venv / "pyvenv.cfg").read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def mismatch(venv: Path) -> str | None:
    """None if the runtime at `venv` matches the grader, else what differs."""
    if not (venv / "bin" / "python").exists():
        return f"{venv} has no bin/python"
    if not (venv / "pyvenv.cfg").is_file():
        return f"{venv} is not a virtual environment (no pyvenv.cfg)"
    theirs = _cfg(venv).get("version") or _cfg(venv).get("version_info", "")
    if not theirs.startswith(platform.python_version()):
        return f"its Python is {theirs or 'unknown'}, the grader's is {platform.python_version()}"
    have = {_normal(d.metadata["Name"]): d.version
            for d in metadata.distributions(path=[str(p) for p in _site_packages(venv)])}
    for name, version in closure().items():
        got = have.get(_normal(name))
        if got != version:
            return f"it has {name} {got or '(none)'}, the grader has {version}"
    return None


@dataclass(frozen=True)
class Runtime:
    python: str  # what the sandboxes exec
    venv: Path | None  # the runtime's venv, None: the grader's own interpreter
    why: str  # one line for `show` and the diagnostics

    @property
    def own(self) -> bool:
        return self.venv is None

    @property
    def label(self) -> str:
        """For the results: the Python version, and whose interpreter it is."""
        return f"{platform.python_version()}, " + ("the grader's own" if self.own else "student runtime")


def find(prefix_dir: Path | None = None, env: Mapping[str, str] | None = None) -> Runtime:
    env = os.environ if env is None else env
    explicit = env.get(ENV)
    if explicit:
        venv = Path(explicit).absolute().parent.parent
        problem = mismatch(venv)
        if problem:
            raise UsageError(f"{ENV}={explicit} cannot run submissions: {problem}; rebuild it with "
                             f"`python -m grader.runtime create {venv}`, or unset {ENV}")
        return Runtime(str(venv / "bin" / "python"), venv, f"{ENV} names it")
    venv = prefix_dir or default_dir()
    if not venv.exists():
        return Runtime(sys.executable, None, f"the grader's own interpreter (no student runtime at {venv})")
    problem = mismatch(venv)
    if problem:
        raise UsageError(f"the student runtime {venv} does not match the grader: {problem}; rebuild it with "
                         f"`python -m grader.runtime create` (make setup does), or remove it to run "
                         f"submissions with the grader's own interpreter")
    return Runtime(str(venv / "bin" / "python"), venv, "the student runtime beside the grader")


@lru_cache(maxsize=1)
def current() -> Runtime:
    return find()


def student_python() -> str:
    """The interpreter the sandboxes exec for a submission."""
    return current().python


def create(venv: Path | None = None) -> Runtime:
    """(Re)build the student runtime: a venv of the grader's base Python without pip, and the packages of
    `closure()` at the grader's versions, installed by the grader's pip into it (`pip --python`)."""
    venv = (venv or default_dir()).absolute()
    wanted = closure()
    if venv.exists() and mismatch(venv) is None:
        return Runtime(str(venv / "bin" / "python"), venv, "already up to date")
    if venv.exists() and not (venv / "pyvenv.cfg").is_file() and (not venv.is_dir() or any(venv.iterdir())):
        raise UsageError(f"{venv} exists and is not a virtual environment: give a new or empty folder")
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", "--clear", "--without-pip", str(venv)], check=True)
        subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                        "--quiet", "--no-deps", "--disable-pip-version-check",
                        *(f"{n}=={v}" for n, v in sorted(wanted.items()))], check=True)
        problem = mismatch(venv)
        if problem:
            raise UsageError(f"the student runtime built at {venv} does not match the grader: {problem}")
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)  # half a runtime would stop every grading; none is fine
        raise
    return Runtime(str(venv / "bin" / "python"), venv, "built")


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m grader.runtime", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create", help="build or rebuild the student runtime (default: <sys.prefix>/student)")
    c.add_argument("dir", nargs="?", type=Path)
    sub.add_parser("show", help="which interpreter submissions run with, and why")
    args = ap.parse_args(argv)
    try:
        rt = create(args.dir) if args.cmd == "create" else find()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: building the student runtime failed: {exc}", file=sys.stderr)
        return 1
    print(f"{rt.python}: {rt.why}")
    if rt.venv is not None:
        print("packages: " + ", ".join(f"{n} {v}" for n, v in sorted(closure().items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

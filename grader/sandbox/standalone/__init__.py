"""Code that runs in other processes, by path: the standard library only, never an import of `grader`.

    launch.py                 the launcher every tier starts first (namespaces, limits, uid, then the program)
    procfs.py                 reads /proc; also run as the observer process under the run's uid (observe.py)
    site/sitecustomize.py     the grader's observer inside the student's own process (its folder goes on the
                              student's PYTHONPATH, so it holds nothing else)

These files are started with `python -I -S FILE` (or injected through PYTHONPATH) in processes that have no
grader installed and, for sitecustomize, may be hostile; a grader import in them would fail there, so the
import-linter contract in pyproject.toml forbids one. This `__init__` only names the paths.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "launch.py"
PROCFS_SOURCE = HERE / "procfs.py"
SITE_DIR = HERE / "site"  # put on the student's PYTHONPATH: sitecustomize.py alone

__all__ = ["LAUNCHER", "PROCFS_SOURCE", "SITE_DIR"]

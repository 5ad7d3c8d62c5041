"""Build a wheel of the running grader, offline, in a few milliseconds.

The grader is pure Python, so a wheel is a zip of the package and a `.dist-info` folder (PEP 427/376/566).
Building it here rather than with `pip wheel` means an export needs no network (pip's isolated build would
download setuptools) and no `wheel` package, and ships every file of the package (including data files
a `package-data` list might forget). The metadata (dependencies, Python requirement) comes from the
project's pyproject.toml when the grader runs from a source checkout, else from the installed distribution.
The result is reproducible: fixed timestamps, sorted entries.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, cast

import grader

if TYPE_CHECKING:
    import email.message

DIST = "grader"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
SKIP_DIRS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


def package_dir() -> Path:
    return Path(grader.__file__).resolve().parent


def source_pyproject() -> Path | None:
    p = package_dir().parent / "pyproject.toml"
    if p.is_file() and re.search(r'(?m)^name\s*=\s*"grader"\s*$', p.read_text(encoding="utf-8")):
        return p
    return None


def project_metadata() -> dict:
    """name, version, summary, requires_python, dependencies, scripts."""
    pyproject = source_pyproject()
    if pyproject is not None and sys.version_info >= (3, 11):
        import tomllib

        proj = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        return {"version": grader.__version__, "summary": proj.get("description", ""),
                "requires_python": proj.get("requires-python", ""),
                "dependencies": list(proj.get("dependencies", [])),
                "scripts": dict(proj.get("scripts", {"grader": "grader.cli:main"})),
                "license": _license_of(proj.get("license"))}
    try:
        # an email.message.Message subclass at runtime; the PackageMetadata protocol has .get() only from 3.12
        md = cast("email.message.Message", importlib.metadata.metadata(DIST))
        reqs = [r for r in (importlib.metadata.requires(DIST) or []) if "extra ==" not in r]
        eps = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")
               if ep.value.startswith("grader.")}
        return {"version": grader.__version__, "summary": md.get("Summary", ""),
                "requires_python": md.get("Requires-Python", ""), "dependencies": reqs,
                "scripts": eps or {"grader": "grader.cli:main"},
                "license": md.get("License-Expression") or md.get("License", "")}
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("cannot tell the grader's dependencies: no pyproject.toml next to the package and "
                           "no installed distribution; pass a prebuilt wheel with --wheel") from None


def _license_of(value: str | dict | None) -> str:
    """An SPDX expression (`license = "MIT"`), or the text of the older `license = {text = ...}` table."""
    return value if isinstance(value, str) else (value or {}).get("text", "")


def catalogs() -> list[tuple[str, bytes]]:
    """(archive name, .mo bytes) of every message catalog, compiled from its .po now when Babel is here (a
    source checkout), else the .mo beside it (an installed grader, whose wheel was built with them)."""
    from grader.i18n import compile_po

    out = []
    for po in sorted(package_dir().glob("locale/*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        data = compile_po(po)
        if data is None and mo.is_file():
            data = mo.read_bytes()
        if data is not None:
            out.append((mo.relative_to(package_dir().parent).as_posix(), data))
    return out


def package_files() -> list[tuple[str, Path]]:
    """(archive name, file) for every file of the package, sorted."""
    root = package_dir()
    out = []
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root.parent)
        if not f.is_file() or f.is_symlink() or f.suffix in SKIP_SUFFIXES:
            continue
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        out.append((rel.as_posix(), f))
    return out


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def build_wheel(out_dir: Path) -> Path:
    """Write grader-<version>-py3-none-any.whl into out_dir and return its path."""
    meta = project_metadata()
    version = meta["version"]
    dist_info = f"{DIST}-{version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {DIST}",
        f"Version: {version}",
    ]
    if meta["summary"]:
        metadata.append(f"Summary: {meta['summary']}")
    if meta["license"]:
        metadata.append(f"License: {meta['license']}")
    if meta["requires_python"]:
        metadata.append(f"Requires-Python: {meta['requires_python']}")
    metadata += [f"Requires-Dist: {d}" for d in meta["dependencies"]]
    entry_points = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in sorted(meta["scripts"].items()))
    wheel_txt = ("Wheel-Version: 1.0\nGenerator: grader-export\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    generated = {
        f"{dist_info}/METADATA": ("\n".join(metadata) + "\n").encode("utf-8"),
        f"{dist_info}/WHEEL": wheel_txt.encode("utf-8"),
        f"{dist_info}/entry_points.txt": entry_points.encode("utf-8"),
        f"{dist_info}/top_level.txt": f"{DIST}\n".encode("utf-8"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{DIST}-{version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        compiled = catalogs()
        ours = {name for name, _data in compiled}
        entries = sorted([(name, f.read_bytes()) for name, f in package_files() if name not in ours] + compiled)
        entries += sorted(generated.items())
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            records.append(f"{name},{_record_hash(data)},{len(data)}")
        records.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=ZIP_DATE)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, "\n".join(records) + "\n")
    return path


def installed_pins() -> list[str]:
    """`name==version` of every installed distribution the grader needs, recursively (pip constraints)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    meta = project_metadata()
    pins: dict[str, str] = {}
    todo = [Requirement(r) for r in meta["dependencies"]]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(req.name)
        if key in pins or key == DIST:
            continue
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            continue
        pins[key] = dist.version
        todo += [Requirement(r) for r in (dist.requires or [])]
    return [f"{name}=={version}" for name, version in sorted(pins.items())]

"""`grader export gradescope`: the autograder zip Gradescope builds its image from.

Layout (files at the zip's root, as Gradescope requires):

    setup.sh                 installs the grader (wheel below; dependencies from PyPI) + the student user
    run_autograder           entry point; always leaves results/results.json behind
    grader_autograder.py     what run_autograder runs: grades /autograder/submission (standard library only)
    autograder.json          assignment, entry file, behaviours (for the fallback results), user, time limit
    grader.yaml              the course config
    assignments/NAME/...     the assignment's folder: its spec and any files beside it
    wheels/grader-*.whl      this grader
    constraints.txt          the dependency versions of the exporting machine (unless --no-pin)
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

from grader.export import (
    Export,
    ExportError,
    __version__,
    assignment_files,
    assignments_subdir,
    behaviours_summary,
    course_file_text,
    refuse_reference,
    template,
)
from grader.export.wheel import build_wheel, installed_pins
from grader.i18n import _
from grader.spec import Course, Spec

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
EXECUTABLE = {"setup.sh", "run_autograder"}


def members(course: Course, spec: Spec, *, wheel: Path | None = None, run_as: str = "student",
            python: str = "3.11", time_limit: int = 540, pin: bool = True) -> dict[str, bytes]:
    """Every file of the zip, by name."""
    out: dict[str, bytes] = {}
    values = {"assignment": spec.name, "version": __version__, "python": python, "run_as": run_as}
    out["setup.sh"] = template("setup.sh", **values).encode()
    out["run_autograder"] = template("run_autograder", **values).encode()
    out["grader_autograder.py"] = template("grader_autograder.py").encode()
    spec_dir = f"{assignments_subdir(course)}/{spec.name}"
    config = {
        "format": 1,
        "grader_version": __version__,
        "assignment": spec.name,
        "title": spec.title,
        "entry": spec.entry,
        "course": "grader.yaml",
        "spec": f"{spec_dir}/{spec.path.name}",
        "max_score": spec.max_score,
        "behaviours": behaviours_summary(spec),
        "run_as": run_as,
        "time_limit": time_limit,
    }
    out["autograder.json"] = (json.dumps(config, indent=2) + "\n").encode()
    out["grader.yaml"] = course_file_text(course).encode()
    for rel, f in assignment_files(course, spec):
        out[f"{spec_dir}/{rel}"] = f.read_bytes()
    if wheel is not None:
        if not wheel.is_file() or not wheel.name.startswith("grader-") or wheel.suffix != ".whl":
            raise ExportError(_("--wheel {path}: expected an existing grader-<version>-*.whl file").format(path=wheel))
        out[f"wheels/{wheel.name}"] = wheel.read_bytes()
    else:
        with tempfile.TemporaryDirectory(prefix="grader-wheel-") as tmp:
            built = build_wheel(Path(tmp))
            out[f"wheels/{built.name}"] = built.read_bytes()
    if pin:
        out["constraints.txt"] = ("# dependency versions of the machine that exported this autograder\n"
                                  + "".join(f"{p}\n" for p in installed_pins())).encode()
    return out


def write_zip(path: Path, files: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = (0o100755 if name in EXECUTABLE else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def export_gradescope(course: Course, spec: Spec, out: Path, **options) -> Export:
    files = members(course, spec, **options)
    refuse_reference(course, files)
    write_zip(out, files)
    notes = []
    hidden = [b.id for b in spec.behaviours if b.visibility != "visible"]
    if hidden:
        notes.append(_("not shown to students right away (Gradescope visibility kept): {behaviours}").format(
            behaviours=", ".join(hidden)))
    if not options.get("pin", True):
        notes.append(_("dependencies are not pinned: setup.sh installs their newest versions"))
    return Export(path=out, files=sorted(files), notes=notes)

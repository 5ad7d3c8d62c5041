"""Assignment specs (`assignments/<name>/assignment.yaml`) and the course config (`grader.yaml`), typed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grader import i18n
from grader.errors import SpecError, UsageError
from grader.i18n import _
from grader.spec.params import DECLARED
from grader.spec.text import localize
from grader.spec.yamlload import line_of, read_yaml, spec_error_from, validate

Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(Strict):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(value: Any) -> Any:
    if isinstance(value, str):
        m = re.fullmatch(r"\[?([0-9a-fA-F:.]+|localhost)\]?:(\d{1,5})", value.strip())
        if not m:
            raise ValueError(_("address must look like 127.0.0.1:9000, got {value}").format(value=repr(value)))
        host = "127.0.0.1" if m.group(1) == "localhost" else m.group(1)
        return {"host": host, "port": int(m.group(2))}
    return value


class Behaviour(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    check: str
    title: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    points: float = Field(default=1.0, ge=0)
    hint: str = ""
    visibility: Visibility = "visible"
    timeout: float | None = Field(default=None, gt=0, description="seconds; default from grader.yaml")


class Options(Strict):
    windows_accept_inherits_nonblocking: bool = Field(
        default=False,
        description="emulate Windows: accepted sockets inherit the listener's nonblocking mode",
    )
    regrade_with_cause_neutralised: bool = Field(
        default=True,
        description="one bug, one behaviour: a behaviour that fails because an accepted socket is in blocking "
                    "mode (which concurrent_clients/nonblocking_sockets judge) is graded again with accepted "
                    "sockets made nonblocking, and says so; false = the strict sum of every failure",
    )


class Spec(Strict):
    title: str
    entry: str = Field(pattern=r"^[\w.-]+\.py$")
    kind: Literal["server", "script"]
    address: Address = Field(default_factory=lambda: Address(host="127.0.0.1", port=9000))
    startup_timeout: float | None = Field(default=None, gt=0)
    description: str = ""
    options: Options = Field(default_factory=Options)
    behaviours: list[Behaviour] = Field(min_length=1)
    # filled in by the loader, not by YAML
    name: str = Field(default="", exclude=True)
    untranslated: tuple[Any, ...] = Field(default=(), exclude=True)  # grader.spec.text.Untranslated
    path: Path = Field(default=Path(), exclude=True)

    @field_validator("address", mode="before")
    @classmethod
    def _parse_address(cls, value: Any) -> Any:
        return parse_address(value)

    def behaviour(self, bid: str) -> Behaviour:
        for b in self.behaviours:
            if b.id == bid:
                return b
        raise KeyError(bid)

    @property
    def max_score(self) -> float:
        return sum(b.points for b in self.behaviours)


class Defaults(Strict):
    startup_timeout: float = Field(default=5.0, gt=0)
    behaviour_timeout: float = Field(default=30.0, gt=0)
    output_cap_bytes: int = Field(default=1 << 20, gt=0)
    # once a server listens, its run may use this many cores (tiers with CPU cgroups): a server that spins
    # by design (a nonblocking accept loop) no longer takes a whole core from the other runs of a batch;
    # idle_cpu counts the time it is held back as busy, so its verdict does not change. 0 = no cap.
    server_cpus_once_listening: float = Field(default=0.25, ge=0,
                                              description="cores a listening server may use; 0: no cap")
    # intake caps (grader/sandbox/intake.py): beyond them the submission is rejected, nothing is run
    submission_max_bytes: int = Field(default=16 << 20, gt=0, description="all regular files together")
    submission_max_entries: int = Field(default=2000, gt=0, description="files and folders")
    entry_max_bytes: int = Field(default=1 << 20, gt=0, description="the entry file (server.py / main.py)")


class ClusterTLS(Strict):
    """`cluster:` in grader.yaml: the grading client's side of the cluster's mutual TLS (docs/batch.md);
    paths relative to grader.yaml's folder. `--tls-*` options override them."""

    tls_ca_file: str | None = Field(default=None, description="the course's CA certificate (ca.pem)")
    tls_cert: str | None = Field(default=None, description="the grading client's certificate (client.pem)")
    tls_key: str | None = Field(default=None, description="the grading client's key (client-key.pem)")


class Course(Strict):
    course: str = "course"
    assignments_dir: str = "assignments"
    submissions_dir: str = "submissions"
    reference_dir: str = Field(default="reference", description="reference solutions: <reference_dir>/<assignment>/")
    submissions_layout: str = Field(default="{student}/{assignment}",
                                    description="where a student's work for an assignment lives")
    language: str | None = Field(default=None, description="the course's language: en or zh-CN (grader/i18n.py)")
    defaults: Defaults = Field(default_factory=Defaults)
    # this machine's own settings: never sent to the workers with the course (exclude)
    cluster: ClusterTLS = Field(default_factory=ClusterTLS, exclude=True)
    root: Path = Field(default=Path(), exclude=True)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        lang = i18n.normalize(value)
        if lang is None:
            raise ValueError(_("unknown language '{lang}' (available: {available})").format(
                lang=value, available=", ".join(i18n.AVAILABLE)))
        return lang

    @property
    def assignments_path(self) -> Path:
        return (self.root / self.assignments_dir).resolve()

    @property
    def reference_path(self) -> Path:
        return (self.root / self.reference_dir).resolve()

    @property
    def submissions_path(self) -> Path:
        return (self.root / self.submissions_dir).resolve()


def find_course_file(start: Path | None = None) -> Path | None:
    cur = (start or Path.cwd()).resolve()
    for d in [cur, *cur.parents]:
        if (d / "grader.yaml").is_file():
            return d / "grader.yaml"
    return None


def load_course(path: Path | None = None) -> Course:
    """grader.yaml from `path`, else searched upwards from the cwd, else the packaged course."""
    if path is None:
        path = find_course_file() or find_course_file(Path(__file__).resolve().parents[2])
    if path is None:
        return Course(root=Path.cwd())
    data, node = read_yaml(path)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise SpecError(path, 1, "", _("grader.yaml must be a mapping of keys to values"))
    course = validate(Course, data, node, path)
    return course.model_copy(update={"root": path.parent.resolve()})


def load_spec(path: Path) -> Spec:
    """Load and fully validate one assignment spec, including every check's parameters."""
    checks = DECLARED

    data, node = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(path, 1, "", _("an assignment spec must be a mapping (title:, entry:, kind:, behaviours:)"))
    data, untranslated = localize(data, node, path)  # text in the process's language
    spec = validate(Spec, data, node, path)
    seen: set[str] = set()
    for i, b in enumerate(spec.behaviours):
        where = ("behaviours", i)
        if b.id in seen:
            raise SpecError(path, _line(node, where + ("id",)), f"behaviour '{b.id}'", _("duplicate behaviour id"))
        seen.add(b.id)
        check = checks.get(b.check)
        if check is None:
            import difflib

            close = difflib.get_close_matches(b.check, list(checks), n=1)
            fix = (_("did you mean '{name}'?").format(name=close[0]) if close
                   else _("known checks: {names}").format(names=", ".join(sorted(checks))))
            raise SpecError(path, _line(node, where + ("check",)), f"behaviour '{b.id}'",
                            _("unknown check '{name}' ({fix})").format(name=b.check, fix=fix))
        if spec.kind not in check.kinds:
            raise SpecError(path, _line(node, where + ("check",)), f"behaviour '{b.id}'",
                            _("check '{name}' works on {kinds} assignments, not '{kind}'").format(
                                name=b.check, kinds=" or ".join(check.kinds), kind=spec.kind))
        try:
            check.params.model_validate(b.params)
        except ValidationError as exc:
            raise spec_error_from(exc, check.params, data, node, path, where + ("params",)) from None
    return spec.model_copy(update={"name": path.parent.name, "path": path.resolve(), "untranslated": untranslated})


def _line(node: Any, loc: tuple[Any, ...]) -> int | None:
    return line_of(node, loc)


def params_for(spec: Spec, behaviour: Behaviour) -> BaseModel:
    return DECLARED[behaviour.check].params.model_validate(behaviour.params)


def find_spec(course: Course, assignment: str) -> Path:
    """`assignment` is a name under assignments/ or a path to an assignment.yaml / its folder."""
    p = Path(assignment)
    for cand in (p, p / "assignment.yaml", course.assignments_path / assignment / "assignment.yaml"):
        if cand.is_file():
            return cand.resolve()
    names = list_assignments(course)
    import difflib

    close = difflib.get_close_matches(assignment, names, n=1)
    fix = (_("did you mean '{name}'?").format(name=close[0]) if close
           else _("known assignments: {names}").format(names=", ".join(names) or _("none")))
    raise UsageError(_("unknown assignment '{name}' ({fix})").format(name=assignment, fix=fix))


def list_assignments(course: Course) -> list[str]:
    root = course.assignments_path
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / "assignment.yaml").is_file())

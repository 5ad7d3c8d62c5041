"""Assignment specs and the course config, typed: the first layer of the data flow (docs/layout.md).

    model.py      Spec, Behaviour, Options, Course; load_spec / load_course / find_spec / list_assignments
    params.py     what each check accepts (name, parameters, kinds): a spec is validated without the checks
    text.py       spec text in several languages (`{en: ..., zh-CN: ...}`) resolved to the process's language
    yamlload.py   YAML with line numbers, and pydantic errors turned into file:line messages

Imports nothing of the sandbox, the checks or the harness: `import grader.spec` and `load_spec()` take
milliseconds (`python -X importtime -c "import grader.spec"`).
"""

from __future__ import annotations

from grader.spec.model import (
    Address,
    Behaviour,
    ClusterTLS,
    Course,
    Defaults,
    Options,
    Spec,
    find_course_file,
    find_spec,
    list_assignments,
    load_course,
    load_spec,
    params_for,
)

__all__ = ["Address", "Behaviour", "ClusterTLS", "Course", "Defaults", "Options", "Spec", "find_course_file",
           "find_spec", "list_assignments", "load_course", "load_spec", "params_for"]

"""The reviewed list of equivalent mutants of an assignment: assignments/<name>/equivalent-mutants.yaml.

    equivalent:
      - id: delete_statement-L4
        fingerprint: 3f2a1c9b0e        # which change was reviewed (generate.py's hash of the mutant)
        reason: each run has its own network namespace, so SO_REUSEADDR changes nothing

A listed mutant is still graded (a behaviour that fails it fails a correct program, which the report says)
but left out of the score. An entry whose fingerprint no longer matches the mutant of that id (the
reference changed) is not applied: the report names it for review again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from grader.spec.yamlload import read_yaml, validate

FILENAME = "equivalent-mutants.yaml"


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    fingerprint: str = Field(min_length=1, description="the mutant's fingerprint when it was reviewed")
    reason: str = Field(min_length=3, description="one line: why the mutant behaves like the original")


class EquivalentList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    equivalent: list[Entry] = Field(default_factory=list)


@dataclass(frozen=True)
class Review:
    entries: dict[str, Entry]
    path: Path | None


def load(assignment_dir: Path) -> Review:
    """The reviewed entries by mutant id (an absent file is an empty list; a malformed one a SpecError
    with file:line)."""
    path = assignment_dir / FILENAME
    if not path.is_file():
        return Review({}, None)
    data, node = read_yaml(path)
    parsed = validate(EquivalentList, data if data is not None else {}, node, path)
    return Review({e.id: e for e in parsed.equivalent}, path)

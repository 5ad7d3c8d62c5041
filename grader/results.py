"""Results: plain data, JSON-safe, no output format and no grading policy.

They cross from the pytest run process to the orchestrator as JSON lines written by the grader itself.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

# not_graded: what the behaviour judges cannot be observed where the grader ran (e.g. fd flags through
# psutil): score 0 of max_score 0, so totals leave it out, and the summary says why. Never a failure.
Status = Literal["passed", "failed", "error", "not_graded"]


class Event(BaseModel):
    t: float
    actor: str
    text: str


class BehaviourResult(BaseModel):
    id: str
    title: str = ""
    check: str = ""
    status: Status
    reason: str = ""  # machine-readable kind of failure: no_reply, crashed, never_listened, busy, leak, timeout…
    score: float
    max_score: float
    visibility: str = "visible"
    summary: str = ""
    expected: str = ""
    observed: str = ""
    diagnosis: str = ""  # where a stuck server sits, from /proc
    hint: str = ""
    transcript: list[Event] = Field(default_factory=list)
    stderr_tail: str = ""
    stdout_tail: str = ""
    rerun: str = ""
    seed: int | None = None
    duration: float = 0.0
    evidence: dict[str, Any] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class SubmissionResult(BaseModel):
    assignment: str
    title: str = ""
    submission: str
    student: str | None = None
    tier: str = ""
    tier_note: str = ""
    worker: str = ""  # the cluster worker that graded this run (grader grade --cluster); "" on this machine
    python: str = ""  # what the submission ran with: "3.11.7, student runtime" or "3.11.7, the grader's own"
    grader_version: str = ""
    started_at: str = ""
    duration: float = 0.0
    behaviours: list[BehaviourResult] = Field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(b.score for b in self.behaviours)

    @property
    def max_score(self) -> float:
        return sum(b.max_score for b in self.behaviours)

    @property
    def all_passed(self) -> bool:
        return all(b.passed for b in self.behaviours if b.status != "not_graded")

    @property
    def not_graded(self) -> list[BehaviourResult]:
        return [b for b in self.behaviours if b.status == "not_graded"]

"""Gradescope's results.json (autograder_samples docs/specs.md): one test per behaviour."""

from __future__ import annotations

import math

from grader.reporters.terminal import failure_text
from grader.results import RunResult


def to_gradescope(result: RunResult) -> dict:
    tests = []
    for i, b in enumerate(result.behaviours, start=1):
        name = f"{b.id}: {b.title}" if b.title else b.id
        output = "Passed." if b.passed else failure_text(b)
        tests.append({
            "name": name,
            "number": str(i),
            "score": b.score,
            "max_score": b.max_score,
            "status": "passed" if b.passed else "failed",
            "output": output,
            "output_format": "text",
            "visibility": b.visibility,
            "tags": [b.check] + ([b.reason] if b.reason else []),
            "extra_data": {"behaviour": b.id, "status": b.status, "reason": b.reason, "seed": b.seed},
        })
    return {
        "score": sum(t["score"] for t in tests),
        "execution_time": int(math.ceil(result.duration)),
        "output": f"{result.title or result.assignment}: graded by grader {result.grader_version} "
                  f"(isolation: {result.tier})",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"assignment": result.assignment, "tier": result.tier,
                       "grader_version": result.grader_version, "started_at": result.started_at},
    }

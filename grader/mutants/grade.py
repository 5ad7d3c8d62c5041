"""Grade an assignment's mutants with the batch backend, and give each mutant its status.

The mutants are written as a batch of submissions, one "student" per mutant, plus `original` (the
unmutated solution, written the same way):

    OUT/sources/<mutant id>/<assignment>/<entry>     every mutant that compiles
    OUT/batch/                                        the batch's journal, results.json per mutant, report

and graded by `grader.batch.controller.run_batch`: in parallel, resumable through the batch journal (run the
same command again after an interruption and only the mutants not yet graded are graded), on a Dask
cluster with `--cluster`. The original must pass every behaviour; a behaviour it fails is unreliable here
and kills nothing.

Statuses (the score counts killed and timeout as killed, over killed + timeout + survived):
    killed      some behaviour failed
    timeout     every behaviour that failed did so by running out of time
    survived    every behaviour passed
    equivalent  on the reviewed list (equivalent.py): graded, not scored
    stillborn   does not compile, or never got to serve: the server crashed or never listened in every
                behaviour that runs it; a script crashed without printing anything
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.controller import BatchConfig, BatchReport, run_batch
from grader.batch.progress import Progress
from grader.i18n import _
from grader.mutants.equivalent import Review
from grader.mutants.generate import Generation, Mutant
from grader.results import BehaviourResult, SubmissionResult
from grader.spec import Course, Spec

ORIGINAL = "original"
STATUSES = ("killed", "timeout", "survived", "equivalent", "stillborn")


@dataclass
class Verdict:
    mutant: Mutant
    status: str
    killed_by: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)  # behaviours among killed_by that ran out of time
    errors: list[str] = field(default_factory=list)  # behaviours where the grader itself failed
    reason: str = ""  # equivalent: the reviewed reason; stillborn: why
    start_failure: str = ""  # why the graded run never got going ('' if it did): stillborn, or for an equivalent
    #                          mutant a run that taught nothing (e.g. a start too slow on a crowded machine)
    result: SubmissionResult | None = None


@dataclass
class Outcome:
    assignment: str
    spec: Spec
    generation: Generation
    verdicts: list[Verdict]
    original: SubmissionResult | None
    unreliable: list[str]  # behaviours the original failed: they kill nothing
    stale: list[str]  # reviewed entries that no longer match a mutant
    batch: BatchReport | None = None

    def counted(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status in ("killed", "timeout", "survived")]

    @property
    def score(self) -> float:
        counted = self.counted()
        if not counted:
            return 100.0
        return round(100.0 * sum(v.status != "survived" for v in counted) / len(counted), 1)


def write_sources(root: Path, assignment: str, entry: str, reference_dir: Path | None, gen: Generation) -> None:
    """The original and every compiling mutant as submission folders (other files of the reference
    folder copied beside each)."""
    for mid, text in [(ORIGINAL, gen.original)] + [(m.id, m.source) for m in gen.mutants if not m.stillborn]:
        folder = root / mid / assignment
        folder.mkdir(parents=True, exist_ok=True)
        if reference_dir is not None:
            for extra in sorted(reference_dir.iterdir()):
                if extra.is_file() and extra.name != entry and not extra.name.endswith(".pyc"):
                    shutil.copyfile(extra, folder / extra.name)
        target = folder / entry
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    wanted = {ORIGINAL} | {m.id for m in gen.mutants if not m.stillborn}
    for old in root.iterdir():  # mutants of an earlier reference or operator selection
        if old.is_dir() and old.name not in wanted:
            shutil.rmtree(old)


def _needs_run(spec: Spec) -> set[str]:
    from grader.checks import library

    checks = library()
    return {b.id for b in spec.behaviours if checks[b.check].needs_run}


def stillborn_reason(result: SubmissionResult, spec: Spec) -> str:
    """Why a graded mutant never got going, or '' if it did."""
    running = [b for b in result.behaviours if b.id in _needs_run(spec)]
    if not running or any(b.passed or b.status != "failed" for b in running):
        return ""
    if spec.kind == "server":
        # blocked_by: the same failure at start, reported once and pointed at by the other behaviours
        if all(b.evidence.get("stage") == "start" and b.reason in ("crashed", "never_listened", "blocked_by")
               for b in running):
            crashed = next((b for b in running if b.reason == "crashed"), None)
            return _("the server crashed before it listened: {summary}").format(summary=crashed.summary) \
                if crashed else _("the server never listened")
        return ""
    if all(b.reason in ("crashed", "traceback", "output") for b in running) and \
            not any(b.stdout_tail.strip() for b in running):
        return _("the program crashed before printing anything")
    return ""


def classify(gen: Generation, spec: Spec, review: Review, results: dict[str, SubmissionResult]) -> Outcome:
    original = results.get(ORIGINAL)
    unreliable = sorted(b.id for b in original.behaviours if b.status == "failed") if original else []
    ids = {m.id: m for m in gen.mutants}
    applied = set(gen.operators)  # an entry of an operator not asked for this time is not stale
    stale = [f"{e.id} (listed in {review.path}: no mutant has this id now)" for e in review.entries.values()
             if e.id not in ids and e.id.rsplit("-L", 1)[0] in applied]
    stale += [f"{e.id} (listed in {review.path} for fingerprint {e.fingerprint}; the mutant is now "
              f"{ids[e.id].fingerprint}: review it again)" for e in review.entries.values()
              if e.id in ids and ids[e.id].fingerprint != e.fingerprint]
    verdicts = []
    for m in gen.mutants:
        if m.stillborn:
            verdicts.append(Verdict(m, "stillborn", reason=m.stillborn))
            continue
        r = results.get(m.id)
        if r is None:
            continue  # not graded (interrupted): left out
        failed: list[BehaviourResult] = [b for b in r.behaviours if b.status == "failed" and b.id not in unreliable]
        born = stillborn_reason(r, spec)
        v = Verdict(m, "survived", killed_by=[b.id for b in failed],
                    timed_out=[b.id for b in failed if b.reason == "timeout"],
                    errors=[b.id for b in r.behaviours if b.status == "error"], result=r, start_failure=born)
        entry = review.entries.get(m.id)
        if entry is not None and entry.fingerprint == m.fingerprint:
            v.status, v.reason = "equivalent", entry.reason
        elif born:
            v.status, v.reason = "stillborn", born
        elif failed:
            v.status = "timeout" if len(v.timed_out) == len(failed) else "killed"
        verdicts.append(v)
    return Outcome(spec.name, spec, gen, verdicts, original, unreliable, stale)


def grade_mutants(course: Course, spec: Spec, gen: Generation, review: Review, out: Path, *,
                  reference_dir: Path | None, workers: int | None = None, cluster: str | None = None,
                  sandbox: str | None = None, seed: int | None = None, fresh: bool = False,
                  progress: Progress | None = None) -> Outcome:
    root = out / "sources"
    write_sources(root, spec.name, spec.entry, reference_dir, gen)
    cfg = BatchConfig(root=root, layout="{student}/{assignment}", out=out / "batch", assignments=(spec.name,),
                      workers=workers, sandbox=sandbox, seed=seed, fresh=fresh, cluster=cluster)
    report = run_batch(course, cfg, progress)
    results = {r.student or "": r for r in report.results}
    outcome = classify(gen, spec, review, results)
    outcome.batch = report
    return outcome

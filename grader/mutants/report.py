"""Reports of a mutants run, pure functions over the Outcome: JSON, and the kill matrix (mutant x behaviour)
as terminal text, Markdown and HTML, each with the score per behaviour and in total and every survivor with
its diff and the behaviours that should have caught it.

Cells of the matrix:  K killed by this behaviour   T killed by it running out of time   . passed
                      E the grader failed (error)   - not graded / not run
"""

from __future__ import annotations

import unicodedata
from html import escape

from grader.i18n import _
from grader.mutants.grade import Outcome, Verdict
from grader.mutants.operators import expected_checks, mistake
from grader.reporters import markdown as md
from grader.reporters.explain import visible

LEGEND = "K killed  T killed by a timeout  . passed  E grader error  - not graded"


def cell(v: Verdict, behaviour: str) -> str:
    if v.result is None:
        return "-"
    for b in v.result.behaviours:
        if b.id == behaviour:
            if b.status == "error":
                return "E"
            if behaviour in v.timed_out:
                return "T"
            if behaviour in v.killed_by:
                return "K"
            return "." if b.status == "passed" or b.status == "failed" else "-"
    return "-"


def should_catch(outcome: Outcome, v: Verdict) -> list[str]:
    """The behaviours whose checks model this mutant's mistake (all runtime ones for a generic operator)."""
    checks = expected_checks(v.mutant.operator)
    if not checks:
        return [_("any behaviour (a generic operator)")]
    return [b.id for b in outcome.spec.behaviours if b.check in checks] or [
        _("none of this spec's behaviours has a check for this mistake ({checks})").format(checks=", ".join(checks))]


def per_behaviour(outcome: Outcome) -> list[tuple[str, int, int]]:
    """(behaviour id, mutants it kills, mutants counted) for every behaviour of the spec."""
    counted = outcome.counted()
    return [(b.id, sum(b.id in v.killed_by for v in counted), len(counted)) for b in outcome.spec.behaviours]


def counts(outcome: Outcome) -> dict[str, int]:
    out = {s: 0 for s in ("killed", "timeout", "survived", "equivalent", "stillborn")}
    for v in outcome.verdicts:
        out[v.status] += 1
    return out


def false_alarms(outcome: Outcome) -> list[Verdict]:
    """Reviewed equivalent mutants that some behaviour failed: a correct program failed, or a wrong entry."""
    return [v for v in outcome.verdicts if v.status == "equivalent" and v.killed_by and not v.start_failure]


def to_json(outcome: Outcome) -> dict:
    return {
        "assignment": outcome.assignment,
        "score": outcome.score,
        "counts": counts(outcome),
        "unreliable_behaviours": outcome.unreliable,
        "stale_equivalent_entries": outcome.stale,
        "behaviours": [{"id": bid, "kills": k, "of": n, "percent": round(100.0 * k / n, 1) if n else None}
                       for bid, k, n in per_behaviour(outcome)],
        "mutants": [{
            "id": v.mutant.id, "operator": v.mutant.operator, "mistake": mistake(v.mutant.operator),
            "description": v.mutant.description, "line": v.mutant.line, "fingerprint": v.mutant.fingerprint,
            "status": v.status, "killed_by": v.killed_by, "timed_out": v.timed_out, "errors": v.errors,
            "reason": v.reason, "should_catch": should_catch(outcome, v) if v.status == "survived" else [],
            "diff": v.mutant.diff,
        } for v in outcome.verdicts],
        "removed": {
            "duplicates": [{"operator": r.operator, "description": r.description, "same_as": r.same_as}
                           for r in outcome.generation.duplicates],
            "same_as_original": [{"operator": r.operator, "description": r.description}
                                 for r in outcome.generation.trivial],
        },
    }


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def _pad(s: str, n: int) -> str:
    return s + " " * max(0, n - _width(s))


def summary_line(outcome: Outcome) -> str:
    c = counts(outcome)
    return _("{assignment}: mutation score {score:g}% ({killed} killed, {timeout} by timeout, {survived} survived; "
             "{equivalent} equivalent and {stillborn} stillborn left out; {dups} duplicates removed before "
             "grading)").format(assignment=outcome.assignment, score=outcome.score, killed=c["killed"],
                                timeout=c["timeout"], survived=c["survived"], equivalent=c["equivalent"],
                                stillborn=c["stillborn"],
                                dups=len(outcome.generation.duplicates) + len(outcome.generation.trivial))


def _warnings(outcome: Outcome) -> list[str]:
    out = []
    if outcome.original is None:
        out.append(_("the original was not graded: the kills below are not checked against it"))
    elif outcome.unreliable:
        out.append(_("the original itself fails {ids}: those behaviours kill nothing here (fix the reference or "
                     "the spec first)").format(ids=", ".join(outcome.unreliable)))
    out += [_("stale equivalent entry: {what}").format(what=s) for s in outcome.stale]
    out += [_("{id} is on the equivalent list but failed {ids}: a correct program fails, the entry is wrong, or "
              "the two differ only on a crowded machine (see its reason)")
            .format(id=v.mutant.id, ids=", ".join(v.killed_by)) for v in false_alarms(outcome)]
    out += [_("{id} (on the equivalent list) did not get going this time ({why}): nothing was learnt from it; on a "
              "crowded machine, run again").format(id=v.mutant.id, why=v.start_failure)
            for v in outcome.verdicts if v.status == "equivalent" and v.start_failure]
    errors = [v.mutant.id for v in outcome.verdicts if v.errors]
    if errors:
        out.append(_("the grader itself failed on {ids}: run the same command again to regrade them")
                   .format(ids=", ".join(errors)))
    return out


def terminal(outcome: Outcome) -> str:
    behaviours = [b.id for b in outcome.spec.behaviours]
    idw = max([_width(v.mutant.id) for v in outcome.verdicts] + [6])
    lines = [_("kill matrix of {assignment} (columns: behaviours; {legend})").format(
        assignment=outcome.assignment, legend=LEGEND), ""]
    for i, bid in enumerate(behaviours):
        lines.append(" " * (idw + 13) + "| " * i + bid)
    lines.append(" " * (idw + 13) + "| " * len(behaviours))
    for v in outcome.verdicts:
        cells = " ".join(cell(v, b) for b in behaviours)
        lines.append(f"{_pad(v.mutant.id, idw)}  {_pad(v.status, 10)} {cells}")
    lines += ["", _("score per behaviour (mutants it kills, of those that count):")]
    for bid, k, n in per_behaviour(outcome):
        lines.append(f"  {_pad(bid, 22)} {k:3d}/{n:<3d}" + (f" {100.0 * k / n:5.1f}%" if n else ""))
    survivors = [v for v in outcome.verdicts if v.status == "survived"]
    for v in survivors:
        lines += ["", _("SURVIVED {id}: {description}").format(id=v.mutant.id,
                                                              description=visible(v.mutant.description)),
                  _("  mistake: {mistake}").format(mistake=mistake(v.mutant.operator)),
                  _("  should have been caught by: {ids}").format(ids=", ".join(should_catch(outcome, v)))]
        lines += ["  " + line for line in v.mutant.diff.splitlines()]
    lines += [""] + [_("warning: {text}").format(text=w) for w in _warnings(outcome)] + [summary_line(outcome)]
    return "\n".join(lines) + "\n"


def markdown(outcome: Outcome) -> str:
    behaviours = [b.id for b in outcome.spec.behaviours]
    out = [f"# {md.text(_('Mutants of {assignment}').format(assignment=outcome.assignment))}", "",
           md.text(summary_line(outcome)), ""]
    out += [f"> {md.text(w)}" for w in _warnings(outcome)]
    out += ["", "## " + md.text(_("Kill matrix")), "", md.text(LEGEND), "",
            "| mutant | operator | status | " + " | ".join(md.text(b) for b in behaviours) + " |",
            "|---|---|---|" + "---|" * len(behaviours)]
    for v in outcome.verdicts:
        out.append(f"| `{v.mutant.id}` | {md.text(v.mutant.operator)} | {v.status} | "
                   + " | ".join(cell(v, b) for b in behaviours) + " |")
    out += ["", "## " + md.text(_("Score per behaviour")), "", "| behaviour | kills | of | % |", "|---|---|---|---|"]
    for bid, k, n in per_behaviour(outcome):
        out.append(f"| {md.text(bid)} | {k} | {n} | {100.0 * k / n:.1f} |" if n else f"| {md.text(bid)} | 0 | 0 | |")
    out += ["", f"**{md.text(_('Total'))}: {outcome.score:g}%**", ""]
    survivors = [v for v in outcome.verdicts if v.status == "survived"]
    out += ["## " + md.text(_("Survivors")), ""]
    if not survivors:
        out += [md.text(_("None: every mutant that counts was killed.")), ""]
    for v in survivors:
        out += [f"### `{v.mutant.id}`", "", md.text(v.mutant.description), "",
                md.text(_("Mistake: {mistake}").format(mistake=mistake(v.mutant.operator))), "",
                md.text(_("Should have been caught by: {ids}").format(ids=", ".join(should_catch(outcome, v)))), "",
                md.fence(v.mutant.diff, "diff"), ""]
    out += ["## " + md.text(_("Left out of the score")), "", "| mutant | status | why |", "|---|---|---|"]
    for v in outcome.verdicts:
        if v.status in ("equivalent", "stillborn"):
            out.append(f"| `{v.mutant.id}` | {v.status} | {md.text(v.reason)} |")
    out += ["", md.text(_("{n} duplicate or trivially equivalent mutants were removed before grading.").format(
        n=len(outcome.generation.duplicates) + len(outcome.generation.trivial))), ""]
    return "\n".join(out)


CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1.5rem; max-width: 80rem; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; }
th, td { border: 1px solid #dde; padding: .2rem .5rem; text-align: left; }
th.b { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal; }
td.K { background: #c8e6c9; text-align: center; } td.T { background: #ffe0b2; text-align: center; }
td.pass { color: #999; text-align: center; } td.E { background: #ffcdd2; text-align: center; }
tr.survived td:first-child { background: #ffcdd2; font-weight: bold; }
pre { background: #f6f6f8; padding: .5rem; overflow-x: auto; } .warn { color: #c62828; }
"""


def html(outcome: Outcome) -> str:
    def e(s: object) -> str:
        return escape(visible(str(s)), quote=True)

    behaviours = [b.id for b in outcome.spec.behaviours]
    title = _("Mutants of {assignment}").format(assignment=outcome.assignment)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{CSS}</style>"
             f"</head><body><h1>{e(title)}</h1><p>{e(summary_line(outcome))}</p>"]
    parts += [f"<p class='warn'>{e(w)}</p>" for w in _warnings(outcome)]
    parts.append(f"<h2>{e(_('Kill matrix'))}</h2><p>{e(LEGEND)}</p><table><tr><th>mutant</th><th>operator</th>"
                 "<th>status</th>" + "".join(f"<th class='b'>{e(b)}</th>" for b in behaviours) + "</tr>")
    for v in outcome.verdicts:
        cells = "".join(f"<td class='{'pass' if (c := cell(v, b)) in '.-' else c}'>{e(c)}</td>" for b in behaviours)
        parts.append(f"<tr class='{v.status}'><td><code>{e(v.mutant.id)}</code></td>"
                     f"<td title='{e(mistake(v.mutant.operator))}'>{e(v.mutant.operator)}</td><td>{e(v.status)}</td>"
                     f"{cells}</tr>")
    parts.append(f"</table><h2>{e(_('Score per behaviour'))}</h2><table><tr><th>behaviour</th><th>kills</th>"
                 "<th>of</th><th>%</th></tr>")
    for bid, k, n in per_behaviour(outcome):
        pct = f"{100.0 * k / n:.1f}" if n else ""
        parts.append(f"<tr><td>{e(bid)}</td><td>{k}</td><td>{n}</td><td>{pct}</td></tr>")
    parts.append(f"</table><p><b>{e(_('Total'))}: {outcome.score:g}%</b></p><h2>{e(_('Survivors'))}</h2>")
    survivors = [v for v in outcome.verdicts if v.status == "survived"]
    if not survivors:
        parts.append(f"<p>{e(_('None: every mutant that counts was killed.'))}</p>")
    for v in survivors:
        parts.append(f"<h3><code>{e(v.mutant.id)}</code></h3><p>{e(v.mutant.description)}</p>"
                     f"<p>{e(_('Mistake: {mistake}').format(mistake=mistake(v.mutant.operator)))}</p>"
                     f"<p>{e(_('Should have been caught by: {ids}').format(ids=', '.join(should_catch(outcome, v))))}"
                     f"</p><pre>{e(v.mutant.diff)}</pre>")
    parts.append(f"<h2>{e(_('Left out of the score'))}</h2><table><tr><th>mutant</th><th>status</th><th>why</th></tr>")
    for v in outcome.verdicts:
        if v.status in ("equivalent", "stillborn"):
            parts.append(f"<tr><td><code>{e(v.mutant.id)}</code></td><td>{e(v.status)}</td><td>{e(v.reason)}</td></tr>")
    parts.append("</table>")
    for v in outcome.verdicts:
        if v.status in ("equivalent", "stillborn"):
            parts.append(f"<details><summary><code>{e(v.mutant.id)}</code></summary><pre>{e(v.mutant.diff)}</pre>"
                         "</details>")
    parts.append("</body></html>\n")
    return "".join(parts)

"""The class report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

A pure function over the ClassSummary (the same content report.md shows). Everything that comes from a
result (student names, summaries, titles) is escaped, its control characters shown as escapes.
"""

from __future__ import annotations

from html import escape

from grader.i18n import _, language, ngettext
from grader.reporters.class_summary import AssignmentStats, Bin, Cell, ClassSummary, FailureGroup
from grader.reporters.explain import visible

CSS = """
:root { --ok: #2e7d32; --mid: #f9a825; --bad: #c62828; --muted: #667; --line: #dde; --bg: #fff; --fg: #222; }
@media (prefers-color-scheme: dark) {
  :root { --muted: #99a; --line: #445; --bg: #17181c; --fg: #e6e6e6; } }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg);
       margin: 0 auto; padding: 1.5rem; max-width: 72rem; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid var(--line); }
.meta { color: var(--muted); } .note { border-left: 4px solid var(--mid); padding: .3rem .8rem; margin: .5rem 0; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 2rem; }
.chart { flex: 1 1 26rem; } .chart h3 { margin-bottom: .2rem; }
svg { max-width: 100%; height: auto; } svg text { fill: var(--fg); font: 12px system-ui, sans-serif; }
svg .axis { stroke: var(--muted); } svg .bar { fill: #5c7cfa; }
svg .ok { fill: var(--ok); } svg .mid { fill: var(--mid); } svg .bad { fill: var(--bad); }
svg .track { fill: var(--line); }
td.full { background: rgba(46,125,50,.22); } td.high { background: rgba(46,125,50,.10); }
td.midc { background: rgba(249,168,37,.18); } td.low { background: rgba(198,40,40,.16); }
td.missing { color: var(--muted); font-style: italic; }
.warn { color: var(--bad); }
"""


def _e(s: object) -> str:
    # Control characters are not valid in HTML text; shown as escapes, like in every other report.
    return escape(visible(str(s)), quote=True)


def _rate_class(rate: float) -> str:
    return "ok" if rate >= 0.8 else "mid" if rate >= 0.5 else "bad"


def _cell_class(fraction: float) -> str:
    return "full" if fraction >= 0.999 else "high" if fraction >= 0.8 else "midc" if fraction >= 0.5 else "low"


def distribution_svg(bins: tuple[Bin, ...], title: str) -> str:
    """Vertical bars: how many students got each score (or score band)."""
    n = max(1, len(bins))
    width, height, left, bottom, top = 560, 220, 34, 40, 16
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max((b.count for b in bins), default=0) or 1
    step = plot_w / n
    bar_w = max(2.0, step * 0.75)
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">'
             f'<title>{_e(title)}</title>',
             f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}"/>']
    for i, b in enumerate(bins):
        h = plot_h * b.count / peak
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h - h
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                     f'<title>{_e(b.label)}: {b.count}</title></rect>')
        if b.count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{b.count}</text>')
        rotate = f' transform="rotate(-35 {x + bar_w / 2:.1f} {top + plot_h + 14})"' if n > 12 else ""
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle"{rotate}>'
                     f'{_e(b.label)}</text>')
    parts.append(f'<text x="{left}" y="{height - 4}" class="meta">{_e(_("score"))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def pass_rate_svg(a: AssignmentStats) -> str:
    """Horizontal bars: the share of graded runs that passed each behaviour."""
    rows = a.behaviours
    label_w, bar_w, row_h, top = 170, 300, 22, 6
    width, height = label_w + bar_w + 60, top + row_h * max(1, len(rows)) + 6
    title = _("Pass rate per behaviour, {assignment}").format(assignment=a.name)
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">'
             f'<title>{_e(title)}</title>']
    for i, s in enumerate(rows):
        y = top + i * row_h
        w = bar_w * s.pass_rate
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(s.id)}</text>')
        parts.append(f'<rect class="track" x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}"/>')
        parts.append(f'<rect class="{_rate_class(s.pass_rate)}" x="{label_w}" y="{y + 3}" width="{w:.1f}" '
                     f'height="{row_h - 8}"><title>{_e(s.id)}: '
                     + _e(_("{passed} of {graded} passed").format(passed=s.passed, graded=s.graded))
                     + '</title></rect>')
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 15}">{100 * s.pass_rate:.0f}%</text>')
    parts.append("</svg>")
    return "".join(parts)


def _failures_table(groups: tuple[FailureGroup, ...], total: int) -> str:
    if not groups:
        return f"<p>{_e(_('No behaviour failed.'))}</p>"
    rows = []
    for g in groups:
        students = ", ".join(_e(s) for s in g.students[:8]) + (" …" if len(g.students) > 8 else "")
        rows.append(f"<tr><td><code>{_e(g.behaviour)}</code></td><td>{_e(g.reason or '—')}</td>"
                    f"<td>{_e(g.summary)}</td><td class=num>{g.count}</td><td>{students}</td></tr>")
    more = ("<p class=meta>" + _("…and {n} rarer kind(s) of failure (see each student's feedback).").format(
        n=total - len(groups)) + "</p>" if total > len(groups) else "")
    return (f"<table><thead><tr><th>{_e(_('Behaviour'))}</th><th>{_e(_('Reason'))}</th>"
            f"<th>{_e(_('What the grader saw (most common wording)'))}</th><th class=num>{_e(_('Runs'))}</th>"
            f"<th>{_e(_('Students'))}</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>" + more)


def _assignment_section(a: AssignmentStats) -> str:
    title = f" — {_e(a.title)}" if a.title else ""
    missing = (_(", {n} missing ({students})").format(n=len(a.missing), students=", ".join(_e(s) for s in a.missing))
               if a.missing else "")
    out = [f'<section id="a-{_e(a.name)}"><h2><code>{_e(a.name)}</code>{title}</h2>']
    if not a.graded:
        out.append("<p>" + _("Nothing graded{missing}.").format(missing=missing) + "</p></section>")
        return "".join(out)
    out.append("<p>" + _("{graded} graded{missing}. Mean {mean} / {top}, median {median}, full marks {full} of "
                         "{graded}.").format(graded=a.graded, missing=missing, mean=f"<b>{a.mean:.1f}</b>",
                                             top=f"{a.max_score:g}", median=f"{a.median:g}", full=a.full_marks)
               + "</p>")
    out.append('<div class="charts">')
    distribution = _("Score distribution, {assignment}").format(assignment=a.name)
    out.append(f'<div class="chart"><h3>{_e(_("Score distribution"))}</h3>'
               f'{distribution_svg(a.histogram, distribution)}</div>')
    out.append(f'<div class="chart"><h3>{_e(_("Pass rate per behaviour"))}</h3>{pass_rate_svg(a)}</div></div>')
    errors = [s for s in a.behaviours if s.errors]
    if errors:
        out.append('<p class="warn">' + _("The grader itself failed on: {behaviours} — regrade with {command}.").format(
            behaviours=", ".join(f"<code>{_e(s.id)}</code> ({s.errors}×)" for s in errors),
            command="<code>grader grade --rerun-failed</code>") + "</p>")
    out.append(f"<h3>{_e(_('Most common failures'))}</h3>")
    out.append(_failures_table(a.failures, a.failure_groups_total))
    out.append("</section>")
    return "".join(out)


def _score_cell(c: Cell | None) -> str:
    if c is None:
        return "<td></td>"
    if c.status == "missing":
        return f'<td class="num missing">{_e(_("missing"))}</td>'
    flag = (f' <span class="warn" title="{_e(_("the grader failed on a behaviour"))}">⚠</span>' if c.errors
            else "")
    passed = _("{passed} of {total} behaviours passed").format(passed=c.passed, total=c.behaviours)
    return (f'<td class="num {_cell_class(c.fraction)}"><a href="{_e(c.href)}" '
            f'title="{_e(passed)}">{c.score:g} / {c.max_score:g}</a>{flag}</td>')


def _students_table(summary: ClassSummary) -> str:
    head = "".join(f"<th class=num><a href=\"#a-{_e(a.name)}\"><code>{_e(a.name)}</code></a></th>"
                   for a in summary.assignments)
    rows = []
    for student in summary.students:
        cells = [f"<th>{_e(student)}</th>", *map(_score_cell, summary.row(student))]
        score, top = summary.total(student)
        cells.append(f"<td class=num><b>{score:g}</b> / {top:g}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table><thead><tr><th>{_e(_('Student'))}</th>{head}<th class=num>{_e(_('Total'))}</th></tr></thead>"
            "<tbody>"
            + "".join(rows) + "</tbody></table>")


def class_report(summary: ClassSummary) -> str:
    """report.html: score distributions, pass rates, common failures, and a per-student table."""
    runs = sum(a.graded for a in summary.assignments)
    tiers = ", ".join(f"<b>{_e(t)}</b> (" + _e(ngettext("{n} run", "{n} runs", n).format(n=n)) + ")"
                      for t, n in summary.tiers) or "—"
    versions = ", ".join(_e(v) for v in summary.grader_versions) or "—"
    title = _("Class report") + (f" — {summary.course}" if summary.course else "")
    notes = "".join('<p class="note">' + _e(_("Isolation note: {note}").format(note=n)) + "</p>"
                    for n in summary.tier_notes)
    toc = " · ".join(f'<a href="#a-{_e(a.name)}">{_e(a.name)}</a>' for a in summary.assignments)
    body = [
        f"<h1>{_e(title)}</h1>",
        '<p class="meta">' + _("{runs} runs graded for {students} students and {assignments} assignment(s) · "
                               "generated {date} · grader {versions} · isolation: {tiers}").format(
            runs=runs, students=len(summary.students), assignments=len(summary.assignments),
            date=_e(summary.generated_at), versions=versions, tiers=tiers) + "</p>",
        notes,
        f"<p>{toc} · <a href=\"#students\">{_e(_('students'))}</a></p>",
        *(_assignment_section(a) for a in summary.assignments),
        f'<section id="students"><h2>{_e(_("Students"))}</h2>',
        "<p>" + _("Each score links to that student's feedback.md (in the same folder as this report).") + "</p>",
        _students_table(summary), "</section>",
    ]
    return (f"<!doctype html>\n<html lang=\"{language()}\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")

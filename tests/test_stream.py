"""grader.checks.stream: output judged as one stream, so interleaved writers are still understood."""

from __future__ import annotations

from grader.checks.stream import OutputStream

INTERLEAVED = [(0.10, "worker 1 startworker 2 start"), (0.11, ""), (0.61, "worker 2 doneworker 1 done"),
               (0.62, ""), (0.63, "all done")]


def test_patterns_are_found_inside_interleaved_lines():
    stream = OutputStream(INTERLEAVED)
    assert [m.text for m in stream.find(r"worker \d+ done")] == ["worker 2 done", "worker 1 done"]
    assert len(stream.find(r"worker \d+ start")) == 2


def test_matches_keep_the_order_and_time_of_arrival():
    stream = OutputStream(INTERLEAVED)
    dones = stream.find(r"worker \d+ done")
    final = stream.first("all done")
    assert final is not None
    assert all(m.at < final.at for m in dones)
    assert [m.t for m in dones] == [0.61, 0.61]
    assert final.t == 0.63


def test_a_line_based_reading_would_have_missed_them():
    # the old rule (a whole line must match) finds no done line at all in the same output
    import re

    assert not [ln for _, ln in INTERLEAVED if re.fullmatch(r"worker \d+ done", ln)]


def test_missing_output_is_not_found():
    stream = OutputStream([(0.1, "worker 1 start")])
    assert stream.first("all done") is None
    assert OutputStream([]).find("x") == []

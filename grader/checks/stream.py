"""A script's stdout judged as one stream of text, not as lines.

Threads (or greenlets) printing at once interleave: `print` writes the text and the newline separately, so
two workers give 'worker 3 doneworker 4 done' and then two newlines. Patterns are therefore found in the
whole output in order of arrival; each match is stamped with the arrival time of the chunk that completed
its line (the drain stamps lines as they arrive).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    t: float  # seconds since start when the text arrived
    at: int  # offset in the stream: the order of arrival
    text: str


class OutputStream:
    def __init__(self, lines: list[tuple[float, str]]) -> None:
        self.text = "\n".join(line for _, line in lines)
        self._ends: list[int] = []  # offset just past each line, in arrival order
        self._times: list[float] = []
        end = -1
        for t, line in lines:
            end += len(line) + 1
            self._ends.append(end)
            self._times.append(t)

    def _time_at(self, offset: int) -> float:
        i = bisect.bisect_left(self._ends, offset)
        return self._times[min(i, len(self._times) - 1)] if self._times else 0.0

    def find(self, pattern: str) -> list[Match]:
        """Every non-overlapping occurrence of the regex `pattern`, in order of arrival."""
        return [Match(self._time_at(m.end() - 1 if m.end() > m.start() else m.start()), m.start(), m.group())
                for m in re.finditer(pattern, self.text)]

    def first(self, pattern: str) -> Match | None:
        found = self.find(pattern)
        return found[0] if found else None

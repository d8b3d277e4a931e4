"""Summarise a py-spy ``--format raw`` (collapsed stacks) file: self and inclusive shares."""

from __future__ import annotations

import re
import sys
from collections import Counter

_IDLE = ("EpollSelector.select", "select (selectors")
_LOC = re.compile(r"\s*\([^)]*\)$")


def summarise(path: str, top: int = 15) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = [_LOC.sub("", fr) + _file(fr) for fr in stack.split(";") if fr]
            if not frames or frames[-1].startswith(_IDLE):
                continue  # waiting in epoll: idle, not work
            total += n
            self_c[frames[-1]] += n
            for fr in set(frames):
                incl[fr] += n
    if not total:
        return [], []
    # Inclusive: skip the frames every sample passes through (runpy, the event loop).
    inclusive = [(k, 100 * v / total) for k, v in incl.most_common() if v < 0.9 * total]
    return ([(k, 100 * v / total) for k, v in self_c.most_common(top)], inclusive[:top])


def _file(frame: str) -> str:
    m = re.search(r"\(([^):]*?)(?::\d+)?\)$", frame)
    if not m:
        return ""
    parts = m.group(1).split("/")
    return f" ({'/'.join(parts[-2:])})"


def table(path: str, top: int = 12) -> str:
    self_t, incl_t = summarise(path, top)
    lines = ["| self % | function | | inclusive % | function |", "|---:|---|---|---:|---|"]
    for i in range(max(len(self_t), len(incl_t))):
        a = self_t[i] if i < len(self_t) else ("", 0.0)
        b = incl_t[i] if i < len(incl_t) else ("", 0.0)
        lines.append(f"| {a[1]:.1f} | `{a[0]}` | | {b[1]:.1f} | `{b[0]}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1]))

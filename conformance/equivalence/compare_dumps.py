"""Compare two equivalence recordings (directories written by ``eqrec.py``).

    python conformance/equivalence/compare_dumps.py BEFORE_DIR AFTER_DIR [--alias Old=New …]
        [--max-lines N]

Prints a unified diff per differing test and a summary: identical / differing / only in one.
A test moved to another file still pairs up when its name (the part after the last ``::``,
with parameters) is unique on both sides. ``--alias`` renames a class or event name in BEFORE
before comparing (a renamed event dataclass is not a behaviour change). Exit status 0 only
when nothing differs and no test is only in one side.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path


def load(d: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(d.glob("*.txt"))}


def short_name(file_name: str) -> str:
    return file_name.partition(".py__")[2] or file_name


def pair(
    a: dict[str, str], b: dict[str, str]
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    pairs = [(k, k) for k in a if k in b]
    only_a = [k for k in a if k not in b]
    only_b = [k for k in b if k not in a]
    by_a: dict[str, list[str]] = {}
    by_b: dict[str, list[str]] = {}
    for k in only_a:
        by_a.setdefault(short_name(k), []).append(k)
    for k in only_b:
        by_b.setdefault(short_name(k), []).append(k)
    for name, ka in by_a.items():
        kb = by_b.get(name, [])
        if len(ka) == 1 and len(kb) == 1:
            pairs.append((ka[0], kb[0]))
            only_a.remove(ka[0])
            only_b.remove(kb[0])
    return pairs, only_a, only_b


def apply_aliases(text: str, aliases: list[tuple[str, str]]) -> str:
    for old, new in aliases:
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return text


GENERATED = "# generated inputs (hypothesis)\n"
_TIMER = re.compile(r"^(\S+ timer )([+-]\d+\.\d+)$")


def tolerate_timers(a: str, b: str, tol: float) -> str:
    """Timer lines at the same position and within `tol` seconds: take A's text (real-loop
    tests arm timers a few ms apart from run to run)."""
    la, lb = a.splitlines(), b.splitlines()
    for i, line in enumerate(lb[: len(la)]):
        ma, mb = _TIMER.match(la[i]), _TIMER.match(line)
        if (
            ma
            and mb
            and ma.group(1) == mb.group(1)
            and abs(float(ma.group(2)) - float(mb.group(2))) <= tol + 1e-9
        ):
            lb[i] = la[i]
    return "".join(line + "\n" for line in lb)


_OUT = re.compile(r"^(\S+ out )(\[.*\])$")


def strip_dest(text: str) -> str:
    """Keep only the payload of each output line (for a core whose new output API adds or
    drops the destination, e.g. DTLS returning bare datagrams before)."""
    lines = []
    for line in text.splitlines():
        m = _OUT.match(line)
        if m:
            line = m.group(1) + json.dumps(json.loads(m.group(2))[:1])
        lines.append(line)
    return "".join(line + "\n" for line in lines)


def drop_new_timers(a: str, b: str) -> str:
    """A core that had no timer before and now answers ``get_timer() -> None`` (it joined the
    one contract) has not changed behaviour: its after-side ``timer none`` lines go."""
    timed = {line.split(" ", 1)[0].split("#")[0] for line in a.splitlines() if " timer " in line}
    kept = [
        line
        for line in b.splitlines()
        if not (line.endswith(" timer none") and line.split("#")[0] not in timed)
    ]
    return "".join(line + "\n" for line in kept)


def count(text: str) -> dict[str, int]:
    c = {"out": 0, "timer": 0, "event": 0}
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2 and parts[1] in c:
            c[parts[1]] += 1
    return c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--alias", action="append", default=[], help="Old=New name in BEFORE")
    ap.add_argument("--no-dest", action="store_true", help="ignore output destinations")
    ap.add_argument("--timer-tolerance", type=float, default=0.02, help="seconds")
    ap.add_argument("--max-lines", type=int, default=40, help="diff lines shown per test")
    args = ap.parse_args(argv)
    aliases = [tuple(a.split("=", 1)) for a in args.alias]
    a, b = load(args.before), load(args.after)
    pairs, only_a, only_b = pair(a, b)
    identical, differing, generated = 0, [], []
    totals = {"out": 0, "timer": 0, "event": 0}
    for ka, kb in sorted(pairs):
        ta = apply_aliases(a[ka], aliases)
        tb = b[kb]
        if args.no_dest:
            ta, tb = strip_dest(ta), strip_dest(tb)
        tb = tolerate_timers(ta, drop_new_timers(ta, tb), args.timer_tolerance)
        if GENERATED in (ta[: len(GENERATED)], tb[: len(GENERATED)]) and ta != tb:
            generated.append(kb)  # inputs drawn by hypothesis differ: not comparable
            continue
        for k, v in count(ta).items():
            totals[k] += v
        if ta == tb:
            identical += 1
            continue
        differing.append(kb)
        label = ka if ka == kb else f"{ka} -> {kb}"
        print(f"=== DIFF {label}")
        diff = list(
            difflib.unified_diff(
                ta.splitlines(), tb.splitlines(), "before", "after", lineterm="", n=1
            )
        )
        for line in diff[: args.max_lines]:
            print(line[:400])
        if len(diff) > args.max_lines:
            print(f"... {len(diff) - args.max_lines} more diff lines")
    for k in generated:
        print(f"=== GENERATED INPUTS DIFFER {k}")
    for k in only_a:
        print(f"=== ONLY BEFORE {k} ({sum(count(a[k]).values())} lines)")
    for k in only_b:
        print(f"=== ONLY AFTER {k} ({sum(count(b[k]).values())} lines)")
    print()
    print(
        json.dumps(
            {
                "tests_compared": len(pairs),
                "identical": identical,
                "differing": len(differing),
                "generated_inputs_differ": len(generated),
                "only_before": len(only_a),
                "only_after": len(only_b),
                "lines_compared_before": totals,
            },
            indent=2,
        )
    )
    return 0 if not differing and not only_a and not only_b else 1


if __name__ == "__main__":
    sys.exit(main())

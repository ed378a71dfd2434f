#!/usr/bin/env python3
"""Summary of a `bench/thread_sweep.sh` log: per measurement, the median over the rounds for
each thread count (with the unit blocks the step chose) and, for every count against the
smallest, the median and range of the per-round speed-ups (higher is faster).

    python3 bench/thread_sweep_summary.py threads.txt
"""
import collections
import re
import statistics
import sys


def parse(lines):
    rows = collections.defaultdict(lambda: collections.defaultdict(list))
    threads = None
    for line in lines:
        m = re.match(r"## round \d+, (\d+) threads", line)
        if m:
            threads = int(m.group(1))
            continue
        m = re.search(r"784 -> (\d+) .*\((\d+) unit blocks\): median (\d+)", line)
        if m:
            rows[f"step n = {m.group(1)}, samples/s"][threads].append((float(m.group(3)), int(m.group(2))))
            continue
        m = re.search(r"m = (\d+),.*build D\^T D ([\d.]+) s, smallest eigenvalue ([\d.]+) s", line)
        if m:
            seconds = float(m.group(2)) + float(m.group(3))
            rows[f"s_m(D) m = {m.group(1)}, s"][threads].append((seconds, None))
            continue
        m = re.search(r"epochs 5: wall ([\d.]+) s", line)
        if m:
            rows["MNIST 5 epochs n = 100, wall s"][threads].append((float(m.group(1)), None))
    return rows


def main(path):
    with open(path) as f:
        rows = parse(f)
    for name, by_threads in rows.items():
        counts = sorted(by_threads)
        base = counts[0]
        cells = []
        for t in counts:
            values = [v for v, _ in by_threads[t]]
            blocks = sorted({b for _, b in by_threads[t] if b is not None})
            cell = f"{t} threads {statistics.median(values):.4g}"
            if blocks:
                cell += f" ({'/'.join(map(str, blocks))} blocks)"
            if t != base:
                higher_is_faster = "samples/s" in name
                ups = [(a / b if higher_is_faster else b / a)
                       for (a, _), (b, _) in zip(by_threads[t], by_threads[base])]
                cell += f", {statistics.median(ups):.2f}x ({min(ups):.2f}-{max(ups):.2f})"
            cells.append(cell)
        print(f"{name}: " + "; ".join(cells))


if __name__ == "__main__":
    main(sys.argv[1])

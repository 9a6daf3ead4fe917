#!/usr/bin/python3
"""Times commands alternately: round r runs every side once, in order, so
that a drifting machine speed hits all sides alike. Prints, per side, the
median and p90 wall time, the median peak RSS (ru_maxrss of the process and
the children it waited for), optional rates, and the ratio to the first side.

usage: alternate.py [-n ROUNDS] [--warmup N] [--prep SHELLCMD] [--stdin FILE]
                    [--rate AMOUNT:UNIT]... [--summary FILE --section NAME]
                    LABEL CMD [LABEL CMD]...
CMD is split with shlex and executed directly (no shell in the timed part);
--prep runs through /bin/sh before every timed run of every side, untimed.
The environment variable SIDE holds the label for --prep.
"""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time


def run_once(argv, stdin_path, out_dir):
    """Spawns argv, returns (seconds, maxrss KiB, CPU seconds, exit code)."""
    out = os.path.join(out_dir, "stdout")
    err = os.path.join(out_dir, "stderr")
    acts = [(os.POSIX_SPAWN_OPEN, 0, stdin_path or "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=acts)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter()
    return t1 - t0, ru.ru_maxrss, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status)


def quantile(xs, q):
    """Linear-interpolated quantile of a non-empty list."""
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def fmt_time(s):
    return "%8.1f ms" % (s * 1e3) if s < 1 else "%8.2f s " % s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", "--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--prep")
    ap.add_argument("--stdin")
    ap.add_argument("--rate", action="append", default=[])
    ap.add_argument("--summary")
    ap.add_argument("--section", default="")
    ap.add_argument("sides", nargs="+")
    a = ap.parse_args()
    if len(a.sides) % 2:
        ap.error("give LABEL CMD pairs")
    sides = [(a.sides[i], shlex.split(a.sides[i + 1])) for i in range(0, len(a.sides), 2)]
    times = {label: [] for label, _ in sides}
    rss = {label: [] for label, _ in sides}
    cpu = {label: [] for label, _ in sides}
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.warmup + a.rounds):
            for label, argv in sides:
                if a.prep:
                    subprocess.run(a.prep, shell=True, check=True, env=dict(os.environ, SIDE=label))
                t, m, c, rc = run_once(argv, a.stdin, tmp)
                if rc != 0:
                    failed += 1
                if rc != 0 and failed <= 2:
                    with open(os.path.join(tmp, "stderr"), errors="replace") as f:
                        tail = f.read()[-800:]
                    print("  %s: exit code %d: %s" % (label, rc, tail.strip()), file=sys.stderr)
                if r >= a.warmup:
                    times[label].append(t)
                    rss[label].append(m)
                    cpu[label].append(c)
    rates = []
    for spec in a.rate:
        amount, unit = spec.split(":", 1)
        rates.append((float(amount), unit))
    head = "  %-28s %11s %11s %11s %11s" % ("", "median", "p90", "min", "CPU")
    for _, unit in rates:
        head += " %12s" % unit
    head += " %10s %9s" % ("peak RSS", "ratio")
    print(head)
    base = quantile(times[sides[0][0]], 0.5)
    lines = []
    for label, _ in sides:
        med = quantile(times[label], 0.5)
        row = "  %-28s %11s %11s %11s %11s" % (label, fmt_time(med), fmt_time(quantile(times[label], 0.9)),
                                                fmt_time(min(times[label])), fmt_time(quantile(cpu[label], 0.5)))
        for amount, unit in rates:
            row += " %12.1f" % (amount / med)
        mib = quantile(rss[label], 0.5) / 1024
        row += " %6.1f MiB %8.2fx" % (mib, med / base)
        print(row)
        lines.append("%s\t%s\t%.6f\t%.6f\t%.1f\t%.6f\n" % (a.section, label, med, quantile(times[label], 0.9),
                                                         mib, quantile(cpu[label], 0.5)))
    print("  (%d rounds alternating; median wall time, CPU = median user+sys time; ratio = median / median of '%s'%s)"
          % (a.rounds, sides[0][0], "; %d FAILED runs" % failed if failed else ""))
    if a.summary:
        with open(a.summary, "a") as f:
            f.writelines(lines)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Turns a bench/run work folder (records.jsonl + meta.json) into the
markdown report (bench/RESULTS.md). usage: bench/report.py WORK [OUT]
A run of the scale scenario alone is one section: it replaces the scale
section of OUT (or goes before its findings) and the rest of OUT stays.

If bench/analysis.md exists it is appended as the report's last section
(hand-written findings about the recorded run)."""

import json
import os
import re
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
MiB = 1024.0

sys.path.insert(0, BENCH)
from harness import median  # noqa: E402


def load(work):
    recs = []
    with open(os.path.join(work, "records.jsonl")) as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    with open(os.path.join(work, "meta.json")) as f:
        meta = json.load(f)
    return recs, meta


SRC = [ROOT]


def rust_const(path, name):
    """The value of `const NAME: usize = 4 * 1024 * 1024;` in a source file
    of the drover that was measured."""
    try:
        with open(os.path.join(SRC[0], path)) as f:
            m = re.search(r"const %s: usize = ([0-9_ *]+);" % name, f.read())
    except OSError:
        return None
    if not m:
        return None
    v = 1
    for part in m.group(1).replace("_", "").split("*"):
        v *= int(part)
    return v


def sel(recs, scenario, manager):
    return [r for r in recs if r.get("scenario") == scenario and r.get("manager") == manager]


def complete(rs):
    """Throughput runs whose wall time counts (all 4 markers arrived)."""
    return [r for r in rs if r.get("status") == "complete"]


def vals(rs, key):
    return [r.get(key) for r in rs if r.get(key) is not None]


def fmt_num(x, nd):
    if x is None:
        return "-"
    return ("%." + str(nd) + "f") % x


def med(rs, key, nd=3, scale=1.0):
    """median, with (min-max) when the spread exceeds 10 %."""
    xs = [x * scale for x in vals(rs, key)]
    if not xs:
        return "-"
    m = median(xs)
    s = fmt_num(m, nd)
    lo, hi = min(xs), max(xs)
    if m and (hi - lo) > 0.1 * abs(m) and len(xs) > 1:
        s += " (%s-%s)" % (fmt_num(lo, nd), fmt_num(hi, nd))
    if len(xs) < len(rs):
        s += " [%d/%d runs]" % (len(xs), len(rs))
    return s


def statuses(rs):
    st = {}
    for r in rs:
        st[r.get("status")] = st.get(r.get("status"), 0) + 1
    if list(st) == ["ok"] or list(st) == ["complete"]:
        return list(st)[0]
    return ", ".join("%s %d/%d" % (k, v, len(rs)) for k, v in st.items())


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def svg_chart(series, path, title, xmax):
    """A line chart as a standalone SVG (standard library only): series is
    [(name, [(x seconds, y MiB), ...])], y on a log scale."""
    import math
    W, H, L, R, T, B = 780, 380, 80, 170, 34, 44
    ymin, ymax = 1.0, 1024.0
    ly = lambda v: T + (H - T - B) * (1 - (math.log2(max(min(v, ymax), ymin)) - math.log2(ymin)) / (math.log2(ymax) - math.log2(ymin)))
    lx = lambda v: L + (W - L - R) * min(max(v / xmax, 0), 1)
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="20" font-size="14">%s</text>' % (L, title)]
    for v in (1, 4, 16, 64, 256, 1024):
        y = ly(v)
        o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, y, y))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%d MiB</text>' % (L - 6, y + 4, v))
    for i in range(0, int(xmax) + 1, 2):
        x = lx(i)
        o.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>' % (x, x, T, H - B))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%d s</text>' % (x, H - B + 16, i))
    o.append('<text x="%d" y="%d" text-anchor="middle">time since launch (the reader takes 1 MB/s)</text>' % ((L + W - R) // 2, H - 8))
    for k, (name, pts) in enumerate(series):
        c = COLORS[k % len(COLORS)]
        pts = [(x, y) for x, y in pts if y and y > 0]
        if not pts:
            continue
        o.append('<polyline fill="none" stroke="%s" stroke-width="%d" points="%s"/>' % (
            c, 3 if k == 0 else 2, " ".join("%.1f,%.1f" % (lx(x), ly(y)) for x, y in pts)))
        o.append('<rect x="%d" y="%d" width="14" height="4" fill="%s"/>' % (W - R + 14, T + 8 + 20 * k, c))
        o.append('<text x="%d" y="%d">%s</text>' % (W - R + 34, T + 14 + 20 * k, name))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def timeout_text(template):
    m = re.search(r"\{timeout:\s*([^}]*)\}", template or "")
    return "`%s`" % m.group(1).strip() if m else "its default (no option)"


def render(work, out_dir=None):
    recs, meta = load(work)
    SRC[0] = meta.get("src") or ROOT
    names = [n for n, _ in meta["managers"]]
    templ = dict(meta["managers"])
    L = []
    w = L.append
    q = meta.get("quick")
    w("# drover benchmarks%s\n" % (" (quick smoke run: small loads, not the real figures)" if q else ""))
    w("Generated by `%s` (bench/report.py) from the run of %s; %d run%s per cell, "
      "medians, with (min-max) where the runs spread over 10 %%. The whole run took %d min. "
      "How each number is taken: bench/README.md.\n"
      % (meta["command"], meta["machine_start"]["date"], meta["runs"], "" if meta["runs"] == 1 else "s",
         meta.get("duration_s", 0) // 60))

    # ---------------------------------------------------------------- targets
    d = "drover"
    tp_pipe = median(vals(sel(recs, "throughput", "pipe-baseline"), "wall_s"))

    tp_pipe_cpu = median(vals(sel(recs, "throughput", "pipe-baseline"), "job_cpu_s"))

    def ratio(name):
        mw = median(vals(complete(sel(recs, "throughput", name)), "wall_s"))
        return mw / tp_pipe if mw and tp_pipe else None

    def paired(name):
        """median over runs of wall / the pipe baseline run just before it"""
        rs = [r["wall_s"] / r["pair_pipe_s"] for r in complete(sel(recs, "throughput", name))
              if r.get("wall_s") and r.get("pair_pipe_s")]
        return (median(rs), rs) if rs else (None, [])

    def cpu_ratio(name):
        c = median(vals(sel(recs, "throughput", name), "job_cpu_s"))
        return c / tp_pipe_cpu if c is not None and tp_pipe_cpu else None

    rows = []

    def verdict(ok):
        return "-" if ok is None else ("**met**" if ok else "**missed**")

    if d in names:
        tr = sel(recs, "throughput", d)
        if tr:
            r = ratio(d)
            pr, prs = paired(d)
            rows.append(["throughput, 4 x %s lines x 100 B" % format(tr[0]["lines_expected"] // 4, ","),
                         "wall time / `cat` pipe baseline (median of the per-run ratios to the baseline run "
                         "just before; in brackets: median / median)", "<= 2.0",
                         "%s (runs: %s) [%s = %.3f s / %.3f s]" % (
                             fmt_num(pr, 2), ", ".join("%.2f" % x for x in prs), fmt_num(r, 2),
                             median(vals(tr, "wall_s")), tp_pipe) if pr and r else "-",
                         verdict(pr <= 2.0 if pr else None)])
            cr = cpu_ratio(d)
            rows.append(["", "CPU time of the whole job (manager + generators) / the pipe job's (generators + cat)",
                         "(not a target)", "%s (%.2f s / %.2f s)" % (fmt_num(cr, 2), median(vals(tr, "job_cpu_s")), tp_pipe_cpu) if cr else "-", "-"])
            tc = complete(tr)
            if tc:
                lost, torn, order = max(vals(tc, "lost")), max(vals(tc, "torn")), max(vals(tc, "order"))
                rows.append(["same, every line checked", "lost / torn or mixed / order violations (worst run)",
                             "0 / 0 / 0", "%d / %d / %d (dup %d)" % (lost, torn, order, max(vals(tc, "dup"))),
                             verdict(lost == torn == order == 0)])
        tt = sel(recs, "throughput", "drover-tty")
        dw = median(vals(complete(tr), "wall_s")) if tr else None
        if tt:
            tw = median(vals(complete(tt), "wall_s"))
            tr_ = tw / dw if tw and dw else None
            rows.append(["throughput through ptys (`--tty`), 4 x %s lines x 100 B" % format(tt[0]["lines_expected"] // 4, ","),
                         "wall time / drover's with pipes (median / median)", "<= 3.0",
                         "%s (%.3f s / %.3f s)" % (fmt_num(tr_, 2), tw, dw) if tr_ else "-",
                         verdict(tr_ <= 3.0 if tr_ else None)])
            ttc = complete(tt)
            if ttc:
                lost, torn, order = max(vals(ttc, "lost")), max(vals(ttc, "torn")), max(vals(ttc, "order"))
                rows.append(["same, every line checked", "lost / torn or mixed / order violations (worst run)",
                             "0 / 0 / 0", "%d / %d / %d (dup %d)" % (lost, torn, order, max(vals(ttc, "dup"))),
                             verdict(lost == torn == order == 0)])
        for var, label in (("shutdown", "SIGINT to pid"), ("shutdown-pgrp", "SIGINT to group")):
            sr = sel(recs, var, d)
            if not sr:
                continue
            exp = sr[0]["lines_expected"]
            got = min(vals(sr, "reached") or [0])
            rows.append(["shutdown under load (%s)" % label, "lines delivered (worst run)",
                         "all %s" % format(exp, ","), format(got, ","), verdict(got == exp)])
            lat = vals(sr, "exit_after_children_s")
            ok = (max(lat) <= 0.05 and len(lat) == len(sr)) if lat else False
            rows.append(["", "exit latency after the last child ended (median; worst)", "<= 50 ms",
                         "%s ms; %s ms" % (fmt_num(median(lat) * 1000, 1), fmt_num(max(lat) * 1000, 1)) if lat else "-",
                         verdict(ok)])
        for sig in ("TERM", "INT"):
            sr = sel(recs, "stubborn-" + sig, d)
            if not sr:
                continue
            k = vals(sr, "stub_killed_s")
            ok = bool(k) and len(k) == len(sr) and all(0.9 <= x <= 1.1 for x in k)
            rows.append(["stubborn child, `-t 1`, SIG%s" % sig, "stop signal -> its SIGKILL (all runs)",
                         "1.0 s +- 0.1", ", ".join("%.3f" % x for x in k) + " s" if k else "never", verdict(ok)])
        sr = sel(recs, "startup", d)
        if sr:
            a = vals(sr, "all_s")
            rows.append(["startup, 20 processes", "launch -> first output line of each (median)", "<= 30 ms",
                         "%s ms (runs: %s)" % (fmt_num(median(a) * 1000, 1), ", ".join("%.1f" % (x * 1000) for x in a)) if a else "-",
                         verdict(median(a) <= 0.030 if a else None)])
        ir = sel(recs, "idle", d)
        if ir:
            pk = vals(ir, "peak_rss_kb")
            rows.append(["idle, 20 x sleep, %g s" % ir[0]["window_s"], "peak RSS (VmHWM) of drover's pid (median; worst)",
                         "<= 5 MB (5,120 kB: the anchors' MB is 1024 kB)",
                         "%s MB (%s kB); %s kB" % (fmt_num(median(pk) / MiB, 2), format(int(median(pk)), ","), format(max(pk), ",")),
                         verdict(median(pk) <= 5 * 1024)])
            cpu = vals(ir, "idle_cpu_s")
            rows.append(["", "CPU time in the idle window", "~0", "%s s" % fmt_num(median(cpu), 3),
                         verdict(median(cpu) <= 0.01)])
        cr = sel(recs, "chatty", d)
        if cr:
            budget = rust_const("crates/drover/src/output/mod.rs", "OUTPUT_BUDGET") or 4 << 20
            rsize = rust_const("crates/drover/src/child.rs", "READ_SIZE") or 64 << 10
            maxline = rust_const("crates/drover/src/output/framer.rs", "MAX_LINE") or 64 << 10
            idle_kb = median(vals(ir, "peak_rss_kb")) if ir else None
            ring = rust_const("crates/drover/src/logs.rs", "RING_BYTES") or 0
            # The writer's pool of emptied batch buffers (when the measured
            # drover has one): at most POOL_BUFFERS of POOL_MAX_CAPACITY each.
            pool = (rust_const("crates/drover/src/output/mod.rs", "POOL_BUFFERS") or 0) * \
                (rust_const("crates/drover/src/output/mod.rs", "POOL_MAX_CAPACITY") or 0)
            extra_kb = (budget * 1.25 + 2 * (rsize + 1.25 * rsize + maxline) + (ring + rsize if ring else 0)
                        + pool) / 1024
            pk = vals(cr, "peak_rss_kb")
            bound = (idle_kb + extra_kb) if idle_kb else None
            late = [(r["rss_late_max_kb"] - r["rss_late_min_kb"]) for r in cr if r.get("rss_late_max_kb") is not None]
            over = (max(pk) - bound) / MiB if bound else None
            rows.append(["chatty process vs a 1 MB/s reader", "peak RSS of drover's pid (worst run)",
                         "bounded; stated bound: %s MiB (see below)" % fmt_num(bound / MiB if bound else None, 1),
                         "%s MiB; RSS moved by at most %s MiB over the window's second half" % (
                             fmt_num(max(pk) / MiB, 2), fmt_num(max(late) / MiB if late else None, 2)),
                         verdict(over <= 0 if over is not None else None) +
                         (" (by %.1f MiB)" % over if over is not None and over > 0 else "")])
    if rows:
        w("## drover against the targets of issue 5\n")
        w(table(["scenario", "measure", "target", "drover", "verdict"], rows))
        if d in names and sel(recs, "chatty", d):
            w("The chatty bound: drover queues at most `OUTPUT_BUDGET` = %d MiB of formatted "
              "output (crates/drover/src/output/mod.rs); a reader allocates each batch with "
              "capacity n + n/4 + 64 for n bytes read, so the queued batches occupy at most "
              "1.25 x the budget; per stream add the 64 KiB read buffer (`READ_SIZE`), one "
              "formatted batch waiting for budget (<= 1.25 x 64 KiB) and the framer's partial "
              "line (<= `MAX_LINE`, 64 KiB); and the recent-output ring of `drover logs` "
              "(`RING_BYTES` per process, crates/drover/src/logs.rs, plus one read); and the "
              "writer's pool of emptied batch buffers kept for reuse (at most `POOL_BUFFERS` of "
              "`POOL_MAX_CAPACITY` each, crates/drover/src/output/mod.rs, where the measured "
              "drover has it). The bound is "
              "that on top of drover's idle peak RSS measured in this run (one process, 2 "
              "streams). It counts live data, not what the allocator keeps after a free.\n"
              % ((rust_const("crates/drover/src/output/mod.rs", "OUTPUT_BUDGET") or 4 << 20) >> 20))

    # ---------------------------------------------------------------- machine
    ms, me = meta["machine_start"], meta.get("machine_end", {})
    w("## Machine and versions\n")
    w("- date: %s (end: %s)" % (ms["date"], me.get("date", "?")))
    w("- `nproc`: %s; CPU: %s; kernel: %s (`%s`); %s; `/bin/sh` -> %s" % (
        ms["nproc"], ms["cpu"], ms["kernel"], ms["uname"], ms["libc"], ms["sh"]))
    w("- `free -h` at the start:\n\n```\n%s\n```" % ms["free"])
    w("- load average (1, 5, 15 min) at the start: %s; at the end: %s; at the start of each scenario (1 min): %s" % (
        " ".join(ms["loadavg"].split()[:3]), " ".join(me.get("loadavg", "? ? ?").split()[:3]),
        ", ".join("%s %s" % kv for kv in meta.get("loadavg", {}).items())))
    if meta.get("nice"):
        w("- The harness ran at nice %d (with every manager and child it started), so that the other "
          "engineers' builds on the machine disturb the measurements less; every manager got the "
          "same." % meta["nice"])
    w("- This is the project's shared development machine: other engineers were building "
      "and testing (cargo, 2 cores) in the same checkout while the suite ran, so single runs are "
      "noisy; the medians and the min-max spreads show how much. %s\n" % (
          "drover was built from a clean export of `%s` (not the working tree)." % meta["rev"] if meta.get("rev")
          else "drover was built from the working tree as it was (`git describe --dirty` below)."))
    vrows = [[k, v.replace("\n", " ")] for k, v in meta["versions"].items()]
    w(table(["program", "version"], vrows))
    if meta.get("skipped"):
        w("Not measured (not installed; `bench/install-peers` installs them): " +
          "; ".join("%s (%s)" % kv for kv in meta["skipped"].items()) + ".\n")
    w("Managers as run (NAME=TEMPLATE, bench/managers):\n\n```\n%s\n```\n" %
      "\n".join("%s=%s" % (n, t) for n, t in meta["managers"]))

    # ---------------------------------------------------------------- throughput
    if sel(recs, "throughput", "pipe-baseline") or any(sel(recs, "throughput", n) for n in names):
        any_r = (sel(recs, "throughput", "pipe-baseline") or sel(recs, "throughput", names[0]))[0]
        n4 = any_r.get("lines_expected", 0)
        w("## Throughput: 4 processes x %s lines x 100 B (%d MB), stdout to a file\n" % (format(n4 // 4, ","), n4 // 10000))
        rows = []
        for n in ["pipe-baseline", "file-baseline"] + names:
            rs = sel(recs, "throughput", n)
            if not rs:
                continue
            r = ratio(n)
            pr, _ = paired(n)
            ok = complete(rs)
            mb = median(vals(ok, "wall_s"))
            rows.append([("**%s**" % n) if n == d else n, med(ok, "wall_s") if ok else "none complete", fmt_num(r, 2),
                         fmt_num(pr, 2) if "baseline" not in n else "-",
                         med(rs, "job_cpu_s", 2), fmt_num(cpu_ratio(n), 2),
                         fmt_num(n4 * 100 / 1e6 / mb, 0) if mb else "-",
                         med(rs, "first_output_s") if "baseline" not in n else "-",
                         "%s / %s" % (format(int(median(vals(ok, "intact")) or 0), ","), format(n4, ",")) if ok else "-",
                         max(vals(ok, "lost") or [0]) if ok else "-", max(vals(ok, "torn") or [0]) if ok else "-",
                         max(vals(ok, "order") or [0]) if ok else "-", max(vals(ok, "dup") or [0]) if ok else "-",
                         med(rs, "cpu_s", 2) if "baseline" not in n else "-", statuses(rs)])
        w(table(["manager", "wall s", "x pipe (medians)", "x pipe (paired)", "job CPU s", "CPU x pipe", "MB/s", "first output s", "intact / expected (median)",
                 "lost (worst)", "torn or mixed (worst)", "order violations", "duplicates",
                 "manager CPU s", "status"], rows))
        w("Wall time: from launching the manager to the last growth of its output file before "
          "the file held all 4 end markers. While output flows the harness only polls the file's "
          "size (every 1 ms) and reads nothing, so that it takes no CPU from the manager (the "
          "baselines are timed by `wait4`); once the file has not grown for 0.3 s it scans the new "
          "bytes for the markers. Integrity columns count the runs that completed. The generators write 4096-byte `write()`s not "
          "aligned to lines and stay alive afterwards. `pipe-baseline`: the same 4 generators "
          "writing into one pipe read by `cat >> file` (the denominator of \"x pipe\"); "
          "`file-baseline`: straight into one O_APPEND file. \"x pipe (medians)\": the median wall "
          "time over the median of the pipe baseline's runs; \"x pipe (paired)\": before every manager "
          "run the pipe baseline runs once more, and this is the median of the per-run ratios (the "
          "machine's load drifts). Job CPU: user + system seconds of everything the job ran "
          "(manager-side processes and the 4 generators; for the baselines the generators, `cat` "
          "and the shells). The baselines' lines tear (4 "
          "unsynchronised writers): only their time counts. Manager CPU: its process tree "
          "minus the generators, when the last marker arrived.\n")

    # ---------------------------------------------------------------- shutdown
    if any(sel(recs, "shutdown", n) or sel(recs, "shutdown-pgrp", n) for n in names):
        rs0 = (sel(recs, "shutdown", names[0]) or sel(recs, "shutdown-pgrp", names[0]))
        exp = rs0[0]["lines_expected"] if rs0 else 0
        w("## Shutdown under load: 4 x %s lines, then SIGINT\n" % format(exp // 4, ","))
        rows = []
        for n in names:
            row = [("**%s**" % n) if n == d else n]
            for var in ("shutdown", "shutdown-pgrp"):
                rs = sel(recs, var, n)
                if not rs:
                    row += ["-"] * 4
                    continue
                got = vals(rs, "reached")
                intact = vals(rs, "intact")
                cell = "%s (min %s)" % (format(int(median(got)), ","), format(min(got), ",")) if got else "-"
                if intact and min(intact) < min(got):
                    cell += ", intact min %s" % format(min(intact), ",")
                row += [cell, med(rs, "exit_s", 3), med(rs, "exit_after_children_s", 3),
                        "%s" % max(vals(rs, "left_behind") or [0])]
            row.append(statuses(sel(recs, "shutdown", n) + sel(recs, "shutdown-pgrp", n)))
            rows.append(row)
        w(table(["manager", "SIGINT to pid: lines delivered", "exit s after SIGINT", "exit s after the last child ended",
                 "left behind", "SIGINT to group (Ctrl-C): lines delivered", "exit s", "exit s after the last child",
                 "left behind", "status"], rows))
        w("The generators write line-aligned blocks, then a marker, create a sentinel file and "
          "stay; SIGINT goes out the moment all 4 sentinels exist, so every line is already in a "
          "pipe or inside the manager. \"Delivered\" counts lines whose tag and number reached the "
          "output (intact or not). Exit instants come from pidfds on the manager and on the 4 "
          "generators (no polling); \"after the last child\" is the manager's exit minus the last "
          "generator's end. \"Left behind\": processes of the run alive 0.3 s after the manager "
          "exited. Expected: %s lines.\n" % format(exp, ","))

    # ---------------------------------------------------------------- stubborn
    if any(sel(recs, "stubborn-TERM", n) or sel(recs, "stubborn-INT", n) for n in names):
        w("## Stubborn child (ignores SIGTERM and SIGINT), 1 s stop timeout where the manager has one\n")
        rows = []
        for n in names:
            row = [("**%s**" % n) if n == d else n, timeout_text(templ.get(n))]
            for sig in ("TERM", "INT"):
                rs = sel(recs, "stubborn-" + sig, n)
                if not rs:
                    row += ["-"] * 3
                    continue
                k = vals(rs, "stub_killed_s")
                row += [med(rs, "stub_killed_s") if k else "never (%d/%d)" % (len(rs), len(rs)),
                        med(rs, "exit_s") if vals(rs, "exit_s") else "no exit (%d/%d)" % (len(rs), len(rs)),
                        "/".join(sorted(set(r.get("stub_got", "?") for r in rs)))]
            rows.append(row)
        w(table(["manager", "stop timeout", "SIGTERM to pid: stub killed after s", "manager exit s",
                 "stub got", "SIGINT to pid: stub killed after s", "manager exit s", "stub got"], rows))
        bound = 15.0 if not q else 6.0
        w("From the stop signal to the stubborn child's death (a pidfd on it; only SIGKILL "
          "ends it) and to the manager's exit, each bounded by %g s (\"never\", \"no exit\"). "
          "\"stub got\": the signals it reports having ignored, as they appear in the output.\n" % bound)

    # ---------------------------------------------------------------- startup
    if any(sel(recs, "startup", n) for n in names):
        w("## Startup: 20 processes, time to each one's first output line\n")
        rows = []
        for n in names:
            rs = sel(recs, "startup", n)
            if rs:
                rows.append([("**%s**" % n) if n == d else n, med(rs, "all_s", 4), med(rs, "first_s", 4),
                             med(rs, "median_s", 4), med(rs, "started_last_s", 3), med(rs, "stop_s", 3),
                             max(vals(rs, "left_behind") or [0]), statuses(rs)])
        w(table(["manager", "all 20 lines s", "first line s", "median line s", "last child started s",
                 "then SIGTERM: exit s", "left behind", "status"], rows))
        w("From launching the manager (just before fork) until each child's first line is in "
          "the manager's output file (polled every 1 ms). Each child prints its line as it "
          "starts. \"Last child started\": the latest mtime of the children's pid files (written "
          "as each child starts; the kernel's coarse clock, a few ms of resolution). "
          "(peers-results.md measured the peers' start-up to the last child's own start "
          "stamp, not to its line in the output; ultraman's 33 ms there is that.)\n")

    # ---------------------------------------------------------------- idle
    if any(sel(recs, "idle", n) for n in names):
        w("## Idle: 20 x `sleep`\n")
        rows = []
        for n in names:
            rs = sel(recs, "idle", n)
            if rs:
                rows.append([("**%s**" % n) if n == d else n, med(rs, "peak_rss_kb", 2, 1 / MiB),
                             med(rs, "side_procs", 0), med(rs, "side_pss_kb", 1, 1 / MiB),
                             med(rs, "side_rss_kb", 1, 1 / MiB), med(rs, "idle_cpu_s", 3),
                             med(rs, "total_cpu_s", 3), statuses(rs)])
        w(table(["manager", "peak RSS of its pid, MiB", "manager-side processes", "their PSS, MiB",
                 "their summed RSS, MiB", "CPU s in the idle window", "CPU s since launch", "status"], rows))
        win = (sel(recs, "idle", names[0]) or [{}])[0].get("window_s")
        w("Once all 20 sleeps run, a %s s idle window. Peak RSS = VmHWM of the manager's pid "
          "(what `/usr/bin/time -v` reports for it). Manager-side processes: its tree minus the "
          "sleeps (helpers, `sh -c` wrappers). MiB = 1024 kB, the unit of the peers' figures in peers-results.md (\"MB\" there).\n" % win)

    # ---------------------------------------------------------------- chatty
    if any(sel(recs, "chatty", n) for n in names):
        c0 = (sel(recs, "chatty", d) or sel(recs, "chatty", names[0]))[0]
        w("## Chatty process against a slow reader (%g MB/s)\n" % (c0.get("rate", 1e6) / 1e6))
        rows = []
        for n in names:
            rs = sel(recs, "chatty", n)
            if rs:
                rows.append([("**%s**" % n) if n == d else n, med(rs, "peak_rss_kb", 2, 1 / MiB),
                             med(rs, "side_peak_rss_kb", 1, 1 / MiB),
                             "%s-%s" % (med(rs, "rss_late_min_kb", 1, 1 / MiB), med(rs, "rss_late_max_kb", 1, 1 / MiB)),
                             med(rs, "read_in_window", 1, 1 / 1e6), med(rs, "lines_delivered", 0),
                             "%s / %s" % (max(vals(rs, "torn") or [0]), max(vals(rs, "order") or [0])),
                             med(rs, "exit_s", 2), statuses(rs)])
        series = []
        for n in names:
            rs = [r for r in sel(recs, "chatty", n) if r.get("samples")]
            if rs:
                k = min(len(r["samples"]) for r in rs)
                series.append((n, [(rs[0]["samples"][i][0], median([r["samples"][i][1] for r in rs]) / MiB)
                                   for i in range(k)]))
        if series and out_dir:
            svg_chart(series, os.path.join(out_dir, "chatty-rss.svg"),
                      "RSS of the manager's pid while one child floods and the reader takes 1 MB/s",
                      c0.get("window_s", 10))
            w("![RSS of each manager's pid over the window, log scale](chatty-rss.svg)\n")
            w("(Median over the runs of the RSS sampled each second, log scale; the manager's own pid only: honcho's helper processes hold far more, see the table.)\n")
        w(table(["manager", "peak RSS of its pid, MiB", "manager-side summed RSS, peak MiB",
                 "its RSS, 2nd half of the window, MiB", "MB read in the window", "lines delivered in all",
                 "torn / order", "exit s after SIGTERM (reading at full speed)", "status"], rows))
        w("One process writes %s lines x 100 B as fast as the manager takes them. The manager's "
          "stdout is a pipe that the harness reads at %g MB/s for %g s (a slow terminal), "
          "sampling memory every 100 ms. Then SIGTERM, and the pipe is read at full speed to "
          "its end (bounded at 30 s); what arrived is checked.\n" % (
              format(c0.get("lines_written", 0), ","),
              c0.get("rate", 1e6) / 1e6, c0.get("window_s", 0)))

    if any(r.get("scenario", "").startswith("scale") for r in recs):
        w(scale_section(recs, meta))

    errs = [r for r in recs if r.get("status") == "harness error"]
    if errs:
        w("## Harness errors\n")
        for r in errs:
            w("- %s / %s: `%s`" % (r.get("scenario"), r.get("manager"), r.get("error", "").strip().splitlines()[-1]))
        w("")
    notes = os.path.join(BENCH, "analysis.md")
    if os.path.exists(notes) and not q:
        with open(notes) as f:
            w(f.read())
    return "\n".join(L) + "\n"


SCALE_HEADING = "## Scale:"
SCALE_ENTRIES = 10  # as bench/scenarios.py


def _slopes(rs, key, scale=1.0):
    """[(n, median)] and the marginal cost per process between successive
    counts: [(n0, n1, (m1 - m0) / (n1 - n0))]."""
    pts = []
    for n in sorted(set(r["n"] for r in rs)):
        m = median([x * scale for x in vals([r for r in rs if r["n"] == n], key)])
        if m is not None:
            pts.append((n, m))
    return pts, [(a, b, (mb - ma) / (b - a)) for (a, ma), (b, mb) in zip(pts, pts[1:])]


def _linear(slopes):
    """Linear when no later count costs more per added process than 1.5x the
    first step did (the margin is the machine's noise); None without two steps."""
    if len(slopes) < 2:
        return None
    first = slopes[0][2]
    return all(s <= 1.5 * first + 1e-9 for _, _, s in slopes[1:]) if first > 0 else \
        all(s <= 0 for _, _, s in slopes[1:])


def _plain(line):
    """One of drover's log lines as table text: no timestamp, no `|`."""
    line = re.sub(r"^[0-9:]+ system +\| ", "", line)
    return line.replace("|", "/").replace("`", "'")


def scale_section(recs, meta):
    """The scale scenario's section: drover alone at 100, 300, 1,000
    processes; self-contained (its own date, commit and load), so that a
    `bench/run --scenarios scale` run can be spliced into a full report."""
    L = []
    w = L.append
    rs = [r for r in recs if r.get("scenario") == "scale" and r.get("manager") == "drover"]
    st = [r for r in recs if r.get("scenario") == "scale-stubborn" and r.get("manager") == "drover"]
    nf = [r for r in recs if r.get("scenario") == "scale-nofile" and r.get("manager") == "drover"]
    ns = sorted(set(r["n"] for r in rs))
    ms = meta["machine_start"]
    me = meta.get("machine_end", {})
    w("%s drover with %s processes\n" % (SCALE_HEADING, ", ".join(format(n, ",") for n in ns)))
    w("Measured %s (to %s) by `%s` on %s; %d run%s per cell, medians with (min-max) where the "
      "runs spread over 10 %%; load average (1, 5, 15 min) %s at the start, %s at the end, on "
      "%s cores shared with other people's builds (the spreads are their noise)%s.\n" % (
          ms["date"], me.get("date", "?"), meta["command"], meta["versions"]["drover"],
          meta["runs"], "" if meta["runs"] == 1 else "s", " ".join(ms["loadavg"].split()[:3]),
          " ".join(me.get("loadavg", "? ? ?").split()[:3]), ms["nproc"],
          "; harness at nice %d" % meta["nice"] if meta.get("nice") else ""))
    rows = []
    for n in ns:
        c = [r for r in rs if r["n"] == n]
        a = median(vals(c, "all_s"))
        rows.append([format(n, ","), med(c, "all_s", 3), fmt_num(a * 1000 / n, 2) if a else "-",
                     "%s / %s" % (med(c, "pace_first_ms", 2), med(c, "pace_last_ms", 2)),
                     med(c, "rss_kb", 2, 1 / MiB), med(c, "hwm_kb", 2, 1 / MiB), med(c, "fds", 0),
                     med(c, "idle_cpu_s", 3), med(c, "stop_s", 3),
                     max(vals(c, "left_behind") or [0]), statuses(c)])
    if len(ns) >= 2:
        lo, hi = ns[0], ns[-1]

        def ratio(key):
            a = median(vals([r for r in rs if r["n"] == lo], key))
            b = median(vals([r for r in rs if r["n"] == hi], key))
            return "x%.2f" % (b / a) if a and b else "-"
        rows.append(["**ratio %s/%s** (processes x%g)" % (format(hi, ","), format(lo, ","), hi / lo),
                     ratio("all_s"), "", "", ratio("rss_kb"), ratio("hwm_kb"), ratio("fds"), "",
                     ratio("stop_s"), "", ""])
    w(table(["processes", "startup s (launch -> last first line)", "ms per process",
             "ms between starts, first / last tenth", "idle RSS MiB (VmRSS)", "peak RSS MiB (VmHWM)", "drover's fds", "CPU s, %g s idle" % (
                 (rs or [{}])[0].get("idle_window_s", 0)), "shutdown s (SIGINT -> exit)",
             "left behind", "status"], rows))
    marg = []
    for key, label, sc, unit, nd in (("all_s", "startup", 1000.0, "ms", 3), ("rss_kb", "idle RSS", 1.0, "kB", 1),
                                     ("stop_s", "shutdown", 1000.0, "ms", 3)):
        _, sl = _slopes(rs, key, sc)
        if sl:
            lin = _linear(sl)
            marg.append([label, "; ".join("%s -> %s: %s %s" % (format(a, ","), format(b, ","), fmt_num(x, nd), unit)
                                          for a, b, x in sl),
                         "-" if lin is None else ("linear" if lin else "**grows faster than linear**")])
    if marg:
        w("Marginal cost of one more process (difference of the medians / difference of the counts); "
          "\"linear\" when no later step costs more per process than 1.5x the first step:\n")
        w(table(["figure", "per added process", "verdict"], marg))

    # targets
    trows = []

    def verdict(ok):
        return "-" if ok is None else ("**met**" if ok else "**missed**")
    if rs:
        lin = [_linear(_slopes(rs, k)[1]) for k in ("all_s", "rss_kb", "stop_s")]
        big = [r for r in rs if r["n"] == max(ns)]
        # Within the largest run: the last tenth of the starts against the
        # first (the same run, so the same load). Over 1.5x: each start costs
        # more the more processes run, whatever the medians across counts say.
        pf, pl = median(vals(big, "pace_first_ms")), median(vals(big, "pace_last_ms"))
        pace = pl / pf if pf and pl else None
        if lin[0] is not None and pace is not None:
            lin[0] = lin[0] and pace <= 1.5
        known = [x for x in lin if x is not None]
        trows.append(["cost linear in processes",
                      "startup, idle RSS, shutdown: marginal costs above within 1.5x; starts of the "
                      "last tenth at most 1.5x slower than the first",
                      ", ".join("%s %s" % (k, "-" if x is None else ("linear" if x else "superlinear"))
                                for k, x in zip(("startup", "RSS", "shutdown"), lin)) +
                      ("; at %s, the last tenth of the starts %s ms apart, the first %s ms (x%.2f)" % (
                          format(max(ns), ","), fmt_num(pl, 2), fmt_num(pf, 2), pace) if pace else ""),
                      verdict(all(known) if known else None)])
        a = median(vals(big, "all_s"))
        trows.append(["%s processes started in under 1 s" % format(max(ns), ","), "< 1 s",
                      "%s s (runs: %s)" % (fmt_num(a, 3), ", ".join("%.3f" % x for x in vals(big, "all_s"))) if a else
                      "not all started: " + statuses(big), verdict(a < 1.0 if a else False)])
        s_ = median(vals(big, "stop_s"))
        trows.append(["%s processes stopped in under 1 s (polite children)" % format(max(ns), ","), "< 1 s",
                      "%s s (runs: %s)" % (fmt_num(s_, 3), ", ".join("%.3f" % x for x in vals(big, "stop_s"))) if s_ else "-",
                      verdict(s_ < 1.0 if s_ else False)])
    if st:
        f = median(vals(st, "cpu_frac"))
        fw = median(vals(st, "wait_cpu_frac"))
        n0 = st[0]["n"]
        trows.append(["drover's CPU while %d TERM-ignoring processes wait out `-t %g`" % (n0, st[0]["timeout_s"]),
                      "< 5 % of a core",
                      "%s %% over SIGINT -> exit (runs: %s); %s %% in the wait alone (runs: %s)" % (
                          fmt_num(f * 100 if f is not None else None, 2),
                          ", ".join("%.2f" % (x * 100) for x in vals(st, "cpu_frac")),
                          fmt_num(fw * 100 if fw is not None else None, 2),
                          ", ".join("%.2f" % (x * 100) for x in vals(st, "wait_cpu_frac"))),
                      verdict(f < 0.05 if f is not None else None)])
    if trows:
        w("Targets (scale issue):\n")
        w(table(["target", "bound", "measured", "verdict"], trows))
    if st:
        w("The %d-process TERM-ignoring shutdown, `-t %g`:\n" % (st[0]["n"], st[0]["timeout_s"]))
        w(table(["SIGINT -> exit s", "drover CPU s (SIGINT -> last sample before exit)", "over s",
                 "CPU s in the wait (0.5 s after SIGINT to 0.5 s before the timeout)",
                 "children that reported SIGTERM", "status"],
                [[med(st, "exit_s", 3), med(st, "cpu_s", 3), med(st, "cpu_span_s", 3), med(st, "wait_cpu_s", 3),
                  "%s / %d" % (med(st, "got_sigterm", 0), st[0]["n"]), statuses(st)]]))
    if nf:
        rows = []
        for r in sorted(nf, key=lambda r: r["n"]):
            rows.append([format(r["n"], ","), r.get("soft_nofile"), "%d / %d" % (r.get("started", 0), r["n"]),
                         "yes" if r.get("running_after_start") else "no", fmt_num(r.get("stop_s"), 3),
                         r.get("exit") or "-", r.get("left_behind", 0),
                         "<br>".join(_plain(t) for t in (r.get("tail") or [])) or "(no error)"])
        w("Without the raised limit: drover launched with the soft RLIMIT_NOFILE at %s (the usual "
          "default; this machine's is higher) instead of the hard limit (one run each):\n" % nf[0].get("soft_nofile"))
        w(table(["processes", "soft limit", "first lines seen", "drover still running", "SIGINT -> exit s",
                 "exit", "left behind", "what drover said"], rows))
    lims = sorted(set(str(r.get("nofile")) for r in rs + st if r.get("nofile")))
    w("How: a Procfile of %d entries `sK: drover-testchild --tag sK.TOKEN --lines 1 --len 40 --stay`, "
      "run as `drover start -f Procfile -m all=N/%d`: instances, not N entries, because `PORT` = "
      "5000 + 100 x entry + instance: here 5000-5999, while a 607th entry would get 65,600. "
      "The child is drover's test program, exec'd directly (plain words: no shell), so each process "
      "costs drover one clone (`CLONE_VM | CLONE_VFORK`, as posix_spawn) and one exec; "
      "it prints one line and waits for a signal. drover's soft "
      "open-file limit is set to the hard one before exec (`ulimit -n $(ulimit -Hn)`; %s in these "
      "runs) in every run but the probe above. Startup: from just before the fork of drover to the "
      "moment every instance's first line is in drover's output file (polled every 2 ms, so the "
      "pace of a tenth of the starts means something from 300 processes on). Idle RSS: VmRSS of "
      "drover's pid sampled every 0.25 s over the idle window (median) that begins 0.5 s after the last "
      "line; peak: VmHWM. Shutdown: SIGINT to drover's pid -> its exit (a pidfd); the children die of "
      "the default SIGTERM. The TERM-ignoring run: the same with `--ignore-term --ignore-int` and "
      "`-t %g`; utime + stime of /proc/PID/stat sampled every 20 ms, the last sample before the exit "
      "counts.\n" % (SCALE_ENTRIES, SCALE_ENTRIES, ", ".join(lims) or "?", st[0]["timeout_s"] if st else 3))
    notes = os.path.join(BENCH, "scale-analysis.md")
    if os.path.exists(notes) and not meta.get("quick"):
        with open(notes) as f:
            w(f.read())
    return "\n".join(L) + "\n"


def splice(path, section):
    """Puts `section` into the report at path: in place of its scale section,
    or else before the hand-written findings (or at the end)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        text = ""
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.startswith(SCALE_HEADING)), None)
    if start is not None:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    else:
        start = end = next((i for i, ln in enumerate(lines) if ln.startswith("## Findings")), len(lines))
    new = lines[:start] + section.rstrip("\n").split("\n") + [""] + lines[end:]
    with open(path, "w") as f:
        f.write("\n".join(new))


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = sys.argv[2] if len(sys.argv) > 2 else None
    recs, meta = load(sys.argv[1])
    if meta.get("scenarios") == ["scale"] and not meta.get("quick"):
        # as bench/run: a scale-only run is one section of the report
        text = scale_section(recs, meta)
        if out:
            splice(out, text)
            return
        sys.stdout.write(text)
        return
    text = render(sys.argv[1], os.path.dirname(os.path.abspath(out)) if out else None)
    if out:
        with open(sys.argv[2], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()

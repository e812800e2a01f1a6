"""The scenarios of drover's benchmark (issue 5). Each function runs one
manager once and returns one record (a dict); bench/run repeats them and
bench/report.py turns the records into tables.

The generator is drover-testchild (built by `cargo build --release -p
drover-testchild`, its own package in crates/testchild): numbered lines `TAG SEQ PAD` of a fixed length, so that every line
can be checked exactly (harness.check_lines).
"""

import os
import re
import select
import signal
import subprocess
import time

import harness as H

TAGS4 = ["A", "B", "C", "D"]


def gen(ctx, rd, tag, *flags):
    """A generator command line; its --pidfile path carries the run's token."""
    return "%s --tag %s --pidfile %s/pid-%s %s" % (ctx.gen, tag, rd, tag, " ".join(flags))


def loads(ctx):
    if ctx.quick:
        return {"tp_lines": 20000, "sd_lines": 5000, "idle_s": 0.5, "chatty_lines": 100000,
                "chatty_s": 2.0, "wait_s": 6.0}
    return {"tp_lines": 250000, "sd_lines": 50000, "idle_s": 2.0, "chatty_lines": 500000,
            "chatty_s": 10.0, "wait_s": 15.0}


def base(scenario, m, idx, **kw):
    rec = {"scenario": scenario, "manager": m.name if m else kw.pop("name"), "run": idx}
    if m:
        rec["template"] = m.template
    rec.update(kw)
    return rec


# ---------------------------------------------------------------- throughput

def throughput_baseline(ctx, kind, idx, check=True):
    """The same 4 generators with no manager: into one pipe read by `cat`
    appending to a file (the yardstick), or straight into one O_APPEND file.
    Also the CPU time of the whole job (generators, cat, shells: the rusage
    of everything the shell waited for)."""
    n = loads(ctx)["tp_lines"]
    rd, token = ctx.rundir("throughput", kind if check else kind + "-paired", idx)
    out = os.path.join(rd, "out.txt")
    gens = " & ".join(gen(ctx, rd, t, "--lines %d --len 100 --write raw --marker DONE-%s" % (n, t))
                      for t in TAGS4)
    if kind == "pipe-baseline":
        script = "( %s & wait ) | cat >> %s" % (gens, out)
    else:
        script = "( %s & wait ) >> %s" % (gens, out)
    open(out, "wb").close()
    t0 = H.now()
    p = subprocess.Popen(["/bin/sh", "-c", script])
    _, status, ru = os.wait4(p.pid, 0)
    wall = H.now() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    rec = base("throughput", None, idx, name=kind, status="complete", wall_s=round(wall, 4),
               job_cpu_s=round(ru.ru_utime + ru.ru_stime, 3), left_behind=len(H.kill_leftovers(token, 0)))
    if check:
        with open(out, "rb") as f:
            data = f.read()
        rec["bytes_out"] = len(data)
        rec.update(H.check_lines(data, TAGS4, n, 100, markers=("DONE-A", "DONE-B", "DONE-C", "DONE-D")))
    return rec


def throughput(ctx, m, idx):
    """4 generators x N lines x 100 B in raw 4096-byte writes (not line
    aligned, as C stdio on a pipe), then a marker line, then they stay alive.
    Wall time: launch until the manager's output file last grew before it
    held all 4 markers (its size polled every 1 ms). Then every line is
    checked. Right before, the pipe
    baseline runs once more (time only), so that each manager run has a
    baseline run next to it on a machine whose load drifts."""
    L = loads(ctx)
    n = L["tp_lines"]
    pair = throughput_baseline(ctx, "pipe-baseline", idx, check=False)
    rd, token = ctx.rundir("throughput", m.name, idx)
    pf = H.write_procfile(rd, [(t.lower(), gen(ctx, rd, t, "--lines %d --len 100 --write raw --marker DONE-%s --stay" % (n, t)))
                               for t in TAGS4])
    run = H.Run(ctx, m, pf, rd)
    # While output flows the harness only stats the file (every 1 ms): reading
    # 100 MB in Python would take CPU from the manager on a 2-core machine,
    # which the baselines do not pay. Once the file has not grown for 0.3 s
    # it is scanned for the markers; the run ended at its last growth.
    fd = os.open(run.out_path, os.O_RDONLY)
    scan = H.MarkerScan(fd, b"DONE-")
    size = 0
    t_first = t_done = None
    t_grow = run.t_launch
    status = "complete"
    usage = {}
    while True:
        time.sleep(0.001)
        t = H.now()
        sz = os.fstat(fd).st_size
        if sz != size:
            size = sz
            t_first = t_first or t
            t_grow = t
            if size < scan.pos:  # cannot shrink; be safe
                scan = H.MarkerScan(fd, b"DONE-")
            continue
        if size and t - t_grow >= 0.3 and scan.pos < size:
            if scan.update() >= 4:
                t_done = t_grow
                usage = H.manager_side(run.pid)
                gens = [H.read_pidfile(os.path.join(rd, "pid-" + tg)) for tg in TAGS4]
                gen_cpu = sum((H.stat(p) or (0, 0, 0.0))[2] for p in gens if p)
                break
        if run.exited():
            status, t_done = "manager exited early", t_grow
            break
        if t - t_grow > 20:
            status = "output stalled for 20 s" if size else "no output at all in 20 s"
            t_done = t_grow
            break
        if t - run.t_launch > 300:
            status, t_done = "timeout 300 s", t
            break
    os.close(fd)
    stop = run.stop(signal.SIGINT, signal.SIGTERM)
    left = H.kill_leftovers(token)
    data = run.output()
    chk = H.check_lines(data, TAGS4, n, 100, markers=("DONE-A", "DONE-B", "DONE-C", "DONE-D"))
    # a run that did not complete has no wall time to compare
    rec = base("throughput", m, idx, status=status,
               wall_s=round(t_done - run.t_launch, 4) if status == "complete" else None,
               gave_up_s=round(H.now() - run.t_launch, 1) if status != "complete" else None,
               first_output_s=round(t_first - run.t_launch, 4) if t_first else None,
               bytes_out=len(data), cpu_s=round(usage.get("cpu_s", 0), 3) if usage else None,
               job_cpu_s=round(usage["cpu_s"] + gen_cpu, 3) if usage else None,
               pair_pipe_s=pair["wall_s"], pair_pipe_cpu_s=pair["job_cpu_s"],
               procs=usage.get("procs"), stop=stop, left_behind=len(left))
    rec.update(chk)
    return rec


# ---------------------------------------------------------------- shutdown

def _watch_exits(run, fds, bound):
    """Waits (pidfds, no polling) until the manager and every child in fds
    exited or bound s passed; returns {pid: exit instant}."""
    t_end = H.now() + bound
    times = {}
    p = select.poll()
    for pid, fd in fds.items():
        if fd is not None:
            p.register(fd, select.POLLIN)
    byfd = {fd: pid for pid, fd in fds.items() if fd is not None}
    while len(times) < len(byfd) or run.t_exit is None:
        left = t_end - H.now()
        if left <= 0:
            break
        if run.t_exit is None:
            p.register(run.fd, select.POLLIN)
        ev = p.poll(left * 1000)
        t = H.now()
        for fd, _ in ev:
            if fd in byfd:
                times.setdefault(byfd[fd], t)
                p.unregister(fd)
            elif run.t_exit is None and fd == run.fd:
                p.unregister(fd)
                run.wait(0)
    for fd in byfd:
        os.close(fd)
    return times


def shutdown(ctx, m, idx, group=False):
    """4 generators write N lines (line-aligned blocks), a marker, create a
    sentinel file and stay. The moment all 4 sentinels exist (every line is
    in a pipe or inside the manager) SIGINT goes to the manager's pid, or
    with group=True to its process group as a terminal's Ctrl-C. Measured:
    lines delivered, the manager's exit after SIGINT, and its exit after the
    last generator ended (pidfds on the manager and the generators)."""
    L = loads(ctx)
    n = L["sd_lines"]
    variant = "shutdown-pgrp" if group else "shutdown"
    rd, token = ctx.rundir(variant, m.name, idx)
    pf = H.write_procfile(rd, [(t.lower(), gen(ctx, rd, t, "--lines %d --len 100 --write block --marker DONE-%s --sentinel %s/sent-%s --stay" % (n, t, rd, t)))
                               for t in TAGS4])
    run = H.Run(ctx, m, pf, rd)
    sents = [os.path.join(rd, "sent-" + t) for t in TAGS4]
    status = "ok"
    end = H.now() + 60
    while not all(os.path.exists(s) for s in sents):
        if H.now() > end or run.exited():
            status = "burst not finished"
            break
        time.sleep(0.001)
    kids = [H.read_pidfile(os.path.join(rd, "pid-" + t)) for t in TAGS4]
    fds = {p: H.pidfd(p) for p in kids if p}
    t_sig = H.now()
    run.send(signal.SIGINT, group=group)
    times = _watch_exits(run, fds, L["wait_s"])
    exited = run.t_exit is not None
    rc = run.returncode
    stop = run.stop()
    left = H.kill_leftovers(token)
    chk = H.check_lines(run.output(), TAGS4, n, 100, markers=("DONE-A", "DONE-B", "DONE-C", "DONE-D"))
    last_child = max(times.values()) if len(times) == len(fds) and fds else None
    rec = base(variant, m, idx, status=status if exited else "no exit in %gs" % L["wait_s"],
               exit_s=round(run.t_exit - t_sig, 4) if exited else None,
               children_ended_s=round(last_child - t_sig, 4) if last_child else None,
               exit_after_children_s=round(run.t_exit - last_child, 4) if exited and last_child else None,
               exit=H.exit_desc(rc), stop=stop, left_behind=len(left), left_argv=left[:4])
    rec.update(chk)
    return rec


# ---------------------------------------------------------------- stubborn

def stubborn(ctx, m, idx, signame):
    """One child ignores SIGTERM and SIGINT, one is ordinary; the manager is
    given a 1 s stop timeout where it has such an option ({timeout:...}).
    Measured (pidfds): from the stop signal to the stubborn child's death
    (its SIGKILL: nothing else ends it) and to the manager's exit."""
    L = loads(ctx)
    sig = getattr(signal, "SIG" + signame)
    rd, token = ctx.rundir("stubborn-" + signame, m.name, idx)
    pf = H.write_procfile(rd, [
        ("stub", gen(ctx, rd, "S", "--lines 1 --len 40 --ignore-term --ignore-int --stay")),
        ("ok", gen(ctx, rd, "K", "--lines 1 --len 40 --stay")),
    ])
    run = H.Run(ctx, m, pf, rd, timeout1=True)
    status = "ok"
    end = H.now() + 20
    stub = None
    while True:
        stub = H.read_pidfile(os.path.join(rd, "pid-S"))
        ok = H.read_pidfile(os.path.join(rd, "pid-K"))
        if stub and ok:
            break
        if H.now() > end or run.exited():
            status = "not started"
            break
        time.sleep(0.01)
    time.sleep(0.3)
    fds = {stub: H.pidfd(stub)} if stub else {}
    t_sig = H.now()
    run.send(sig)
    bound = max(L["wait_s"], 6.0) if ctx.quick else L["wait_s"]
    times = _watch_exits(run, fds, bound)
    # the stub may outlive a manager that exits without killing it
    exited = run.t_exit is not None
    rc = run.returncode
    stop = run.stop()
    left = H.kill_leftovers(token)
    out = run.output()
    got = [s for s in ("SIGTERM", "SIGINT") if ("ignored " + s).encode() in out]
    t_stub = times.get(stub)
    rec = base("stubborn-" + signame, m, idx, status=status if exited else "no exit in %gs" % bound,
               stub_killed_s=round(t_stub - t_sig, 4) if t_stub else None,
               exit_s=round(run.t_exit - t_sig, 4) if exited else None,
               stub_got=",".join(got) or "none", exit=H.exit_desc(rc), stop=stop,
               left_behind=len(left), left_argv=left[:4])
    return rec


# ---------------------------------------------------------------- startup

N_START = 20


def startup(ctx, m, idx):
    """20 generators that print one line at once and stay. Measured: from
    launching the manager until each one's line is in the manager's output
    file (polled every 1 ms); then SIGTERM and the manager's exit."""
    L = loads(ctx)
    rd, token = ctx.rundir("startup", m.name, idx)
    tags = ["g%02d" % i for i in range(1, N_START + 1)]
    pf = H.write_procfile(rd, [("p%02d" % i, gen(ctx, rd, t, "--lines 1 --len 40 --stay"))
                               for i, t in enumerate(tags, 1)])
    run = H.Run(ctx, m, pf, rd)
    fol = H.Follower(run.out_path)
    firsts = {}
    buf = b""
    status = "ok"
    while len(firsts) < N_START:
        time.sleep(0.001)
        chunk = fol.read()
        t = H.now()
        if chunk:
            buf += chunk
            for tg in tags:
                if tg not in firsts and (tg + " 00000001").encode() in buf:
                    firsts[tg] = t - run.t_launch
        if t - run.t_launch > 30 or run.exited():
            status = "not all started (%d/%d)" % (len(firsts), N_START)
            break
    fol.close()
    starts = []
    for tg in tags:
        try:
            starts.append(os.stat(os.path.join(rd, "pid-" + tg)).st_mtime_ns / 1e9 - run.t_launch_wall)
        except OSError:
            pass
    time.sleep(0.3)
    t_sig = H.now()
    run.send(signal.SIGTERM)
    exited = run.wait(L["wait_s"])
    stop = run.stop(signal.SIGINT, signal.SIGTERM)
    left = H.kill_leftovers(token)
    v = sorted(firsts.values())
    return base("startup", m, idx, status=status,
                all_s=round(v[-1], 4) if len(v) == N_START else None,
                first_s=round(v[0], 4) if v else None,
                median_s=round(H.median(v), 4) if v else None,
                started_last_s=round(max(starts), 4) if len(starts) == N_START else None,
                started_first_s=round(min(starts), 4) if starts else None,
                stop_s=round(run.t_exit - t_sig, 4) if exited else None,
                stop=stop, left_behind=len(left), left_argv=left[:4])


# ---------------------------------------------------------------- idle

def idle(ctx, m, idx):
    """20 x `sleep`. Once all 20 run, an idle window of 2 s. Measured: the
    manager pid's peak RSS (VmHWM, what `/usr/bin/time -v` reports), its
    CPU time during the window and since launch, and its manager-side
    processes (the tree minus the sleeps: helpers, `sh -c` wrappers)."""
    L = loads(ctx)
    rd, token = ctx.rundir("idle", m.name, idx)
    pf = H.write_procfile(rd, [("s%02d" % i, "sleep 1000.%s" % token) for i in range(1, N_START + 1)])
    run = H.Run(ctx, m, pf, rd)
    status = "ok"
    end = H.now() + 30
    while True:
        k = sum(1 for _, a in H.with_token(token) if a and a[0].endswith("sleep"))
        if k >= N_START:
            break
        if H.now() > end or run.exited():
            status = "not all started (%d/%d)" % (k, N_START)
            break
        time.sleep(0.02)
    u0 = H.manager_side(run.pid)
    time.sleep(L["idle_s"])
    u1 = H.manager_side(run.pid)
    stop = run.stop(signal.SIGTERM, signal.SIGINT, 10)
    left = H.kill_leftovers(token)
    return base("idle", m, idx, status=status, peak_rss_kb=u1["hwm_kb"], rss_kb=u1["root_rss_kb"],
                side_procs=u1["procs"], side_rss_kb=u1["rss_kb"], side_pss_kb=u1["pss_kb"],
                idle_cpu_s=round(u1["cpu_s"] - u0["cpu_s"], 3), total_cpu_s=round(u1["cpu_s"], 3),
                window_s=L["idle_s"], stop=stop, left_behind=len(left))


# ---------------------------------------------------------------- chatty

RSS_GUARD_KB = 2 * 1024 * 1024


def chatty(ctx, m, idx, rate=1_000_000):
    """One generator writes N lines x 100 B as fast as it can. The manager's
    stdout is a pipe that the harness reads at `rate` bytes/s (a slow
    terminal) for a window of 10 s, sampling the manager's memory every
    100 ms. Measured: the manager pid's peak RSS (VmHWM) and the largest
    summed RSS of its manager-side processes. Then SIGTERM, the pipe is read
    at full speed to its end (bounded), and what arrived is checked."""
    L = loads(ctx)
    n = L["chatty_lines"]
    rd, token = ctx.rundir("chatty", m.name, idx)
    pf = H.write_procfile(rd, [("chatty", gen(ctx, rd, "C", "--lines %d --len 100 --write block --marker DONE-C --stay" % n))])
    run = H.Run(ctx, m, pf, rd, stdout_pipe=True)
    fol = H.Follower(fd=run.pipe_r)
    data = []
    t0 = run.t_launch
    status = "ok"
    side_peak = 0
    next_sample = t0
    samples = []
    while True:
        t = H.now()
        el = t - t0
        if el >= L["chatty_s"]:
            break
        allowed = int(rate * el) - fol.size
        if allowed > 0:
            b = fol.read(allowed)
            if b:
                data.append(b)
        if t >= next_sample:
            next_sample += 0.1
            u = H.manager_side(run.pid)
            side_peak = max(side_peak, u["rss_kb"])
            samples.append((round(el, 2), u["root_rss_kb"]))
            if u["rss_kb"] > RSS_GUARD_KB:
                status = "stopped: manager-side RSS over 2 GiB"
                break
        if run.exited():
            status = "manager exited early"
            break
        time.sleep(0.01)
    u = H.manager_side(run.pid)
    hwm = u["hwm_kb"]
    side_peak = max(side_peak, u["rss_kb"])
    read_in_window = fol.size
    t_sig = H.now()
    run.send(signal.SIGTERM)
    # drain at full speed, bounded
    end = H.now() + 30
    while not fol.eof and H.now() < end:
        select.select([fol.fd], [], [], 0.1)
        b = fol.read()
        if b:
            data.append(b)
    drained = fol.eof
    exited = run.wait(max(0.0, end - H.now()))
    stop = run.stop()
    if not fol.eof:
        b = fol.read()
        if b:
            data.append(b)
    fol.close()
    left = H.kill_leftovers(token)
    chk = H.check_lines(b"".join(data), ["C"], n, 100, markers=("DONE-C",))
    # RSS growth over the window's second half: a bounded manager is flat
    half = [r for e, r in samples if e >= L["chatty_s"] / 2 and r]
    rec = base("chatty", m, idx, status=status, peak_rss_kb=hwm, side_peak_rss_kb=side_peak,
               rss_late_min_kb=min(half) if half else None, rss_late_max_kb=max(half) if half else None,
               lines_written=n, read_in_window=read_in_window, window_s=L["chatty_s"], rate=rate,
               exit_s=round(run.t_exit - t_sig, 3) if exited else None, drained=drained,
               stop=stop, left_behind=len(left))
    rec["samples"] = samples[::10]  # (seconds, RSS kB) every second
    rec.update({k: chk[k] for k in ("intact", "torn", "order", "dup")})
    rec["lines_delivered"] = chk["reached"]
    return rec


# ---------------------------------------------------------------- scale

SCALE_NS = (100, 300, 1000)
SCALE_QUICK_NS = (20, 60)
SCALE_ENTRIES = 10     # Procfile entries; `-m all=N/10` instances of each (as bench/report.py)
SCALE_STUB_N = 300     # children ignoring SIGTERM in the wait measurement
SCALE_STUB_T = 3       # drover's `-t` in it, seconds
SCALE_LOW_NOFILE = 1024  # the usual soft RLIMIT_NOFILE, for the limit probe
SCALE_IDLE_S = 2.0


def scale_ns(ctx):
    return SCALE_QUICK_NS if ctx.quick else SCALE_NS


def _scale_procfile(ctx, rd, token, stubborn):
    """SCALE_ENTRIES entries of drover-testchild, each printing one line and
    staying (stubborn: ignoring SIGTERM and SIGINT). Plain words, so drover
    execs the program directly: one fork and one exec per process, no shell.
    The run's token is in each tag (and so in each argv)."""
    flags = "--ignore-term --ignore-int " if stubborn else ""
    return H.write_procfile(rd, [("s%d" % k, "%s --tag s%d.%s --lines 1 --len 40 %s--stay"
                                  % (ctx.gen, k, token, flags)) for k in range(SCALE_ENTRIES)])


FIRST_LINE = re.compile(rb"(s[0-9]+\.[0-9]+) *\| s[0-9]+\.[0-9]+ 00000001 ")


def _scale_start(ctx, m, scenario, n, idx, stubborn=False, timeout=None, nofile="hard"):
    """Starts drover on n children and follows its output (polled every
    2 ms) until each instance's first line is there. Returns the run, its
    token, and {instance name: seconds from launch to its first line}."""
    rd, token = ctx.rundir(scenario, "%s-%d" % (m.name, n), idx)
    pf = _scale_procfile(ctx, rd, token, stubborn)
    extra = ["-m", "all=%d" % (n // SCALE_ENTRIES)]
    if timeout is not None:
        extra += ["-t", str(timeout)]
    run = H.Run(ctx, m, pf, rd, extra=extra, nofile=nofile)
    fol = H.Follower(run.out_path)
    firsts = {}
    rest = b""
    end = run.t_launch + 60
    while len(firsts) < n:
        time.sleep(0.002)
        chunk = fol.read()
        t = H.now()
        if chunk:
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                mt = FIRST_LINE.search(line)
                if mt:
                    firsts.setdefault(mt.group(1).decode(), t - run.t_launch)
        if t > end or run.exited():
            break
    fol.close()
    return run, token, firsts


def _fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def _limit_nofile(pid):
    for line in H.read_bytes("/proc/%d/limits" % pid).decode(errors="replace").splitlines():
        if line.startswith("Max open files"):
            return line.split()[3]
    return None


def _tail(run, k=2):
    """What drover said about a failure: its first k `error` lines, else its
    last k lines that are not a child's."""
    own = [ln for ln in run.output().decode(errors="replace").splitlines() if " 00000001 " not in ln]
    errs = [ln for ln in own if "error" in ln.lower() or "could not" in ln]
    return [ln[:240] for ln in (errs[:k] or own[-k:])]


def _said(run):
    """drover's error lines, if it reported any failure (else None)."""
    own = [ln for ln in run.output().decode(errors="replace").splitlines() if " 00000001 " not in ln]
    errs = [ln[:240] for ln in own if "error" in ln.lower() or "could not" in ln]
    return errs[:2] or None


def scale(ctx, m, idx, n):
    """n children (SCALE_ENTRIES entries x n/SCALE_ENTRIES instances) that
    print one line and stay; drover's soft open-file limit raised to the
    hard one. Measured: launch -> each child's first line in the output;
    drover's RSS once all run (an idle window of SCALE_IDLE_S, sampled
    every 0.25 s), its fds, its CPU in the window; then SIGINT -> drover's
    exit (a pidfd), every child being polite (default SIGTERM)."""
    run, token, firsts = _scale_start(ctx, m, "scale", n, idx)
    status = "ok" if len(firsts) == n else "not all started (%d/%d)" % (len(firsts), n)
    kids = idle_rss = hwm = fds = cpu_idle = lim = None
    if len(firsts) == n and not run.exited():
        time.sleep(0.5)  # the last lines are written; nothing else is due
        kids = sum(1 for _, a in H.with_token(token) if a and a[0] == ctx.gen)
        lim = _limit_nofile(run.pid)
        fds = _fds(run.pid)
        st0 = H.stat(run.pid)
        rss = []
        t_end = H.now() + SCALE_IDLE_S
        while H.now() < t_end:
            rss.append(H.status_kb(run.pid, "VmRSS"))
            time.sleep(0.25)
        st1 = H.stat(run.pid)
        idle_rss = H.median(rss)
        hwm = H.status_kb(run.pid, "VmHWM")
        cpu_idle = round(st1[2] - st0[2], 3) if st0 and st1 else None
    t_sig = H.now()
    run.send(signal.SIGINT)
    exited = run.wait(30)
    rc = run.returncode
    stop = run.stop()
    left = H.kill_leftovers(token)
    v = sorted(firsts.values())
    # The pace of the first and of the last tenth of the starts within this
    # run: later starts slower than early ones mean a cost that grows with
    # the number already running (the machine's load hits both alike).
    k = max(2, n // 10)
    pace = None
    if len(v) == n and n >= 2 * k:
        pace = [round((v[k - 1] - v[0]) * 1000 / (k - 1), 3), round((v[-1] - v[-k]) * 1000 / (k - 1), 3)]
    return base("scale", m, idx, n=n, status=status if exited else "no exit in 30 s",
                pace_first_ms=pace[0] if pace else None, pace_last_ms=pace[1] if pace else None,
                children=kids, all_s=round(v[-1], 4) if len(v) == n else None,
                first_s=round(v[0], 4) if v else None, started=len(v),
                rss_kb=idle_rss, hwm_kb=hwm, fds=fds, nofile=lim, idle_cpu_s=cpu_idle,
                idle_window_s=SCALE_IDLE_S,
                stop_s=round(run.t_exit - t_sig, 4) if exited else None,
                exit=H.exit_desc(rc), stop=stop, left_behind=len(left), left_argv=left[:4],
                tail=_tail(run) if status != "ok" or rc else None)


def scale_stubborn(ctx, m, idx, n=None):
    """n children (300) ignoring SIGTERM and SIGINT, drover with
    `-t SCALE_STUB_T`. Once all printed their line: SIGINT to drover, which
    sends SIGTERM, waits SCALE_STUB_T s, then SIGKILLs them. Drover's CPU
    (utime+stime of /proc/PID/stat, sampled every 20 ms; the last sample
    before its exit counts) over that shutdown, and over its middle (0.5 s
    after the signal to 0.5 s before the timeout): the wait itself."""
    n = n or (SCALE_QUICK_NS[-1] if ctx.quick else SCALE_STUB_N)
    run, token, firsts = _scale_start(ctx, m, "scale-stubborn", n, idx, stubborn=True,
                                      timeout=SCALE_STUB_T)
    status = "ok" if len(firsts) == n else "not all started (%d/%d)" % (len(firsts), n)
    time.sleep(0.5)
    lim = _limit_nofile(run.pid)
    samples = []
    st = H.stat(run.pid)
    t_sig = H.now()
    if st:
        samples.append((t_sig, st[2]))
    run.send(signal.SIGINT)
    end = t_sig + SCALE_STUB_T + 30
    while not run.wait(0.02) and H.now() < end:
        st = H.stat(run.pid)
        t = H.now()
        if st and st[0] not in ("Z", "X"):
            samples.append((t, st[2]))
    exited = run.t_exit is not None
    rc = run.returncode
    stop = run.stop()
    left = H.kill_leftovers(token)
    out = run.output()
    ignored = out.count(b"ignored SIGTERM")

    def at(t):
        """CPU seconds at the last sample taken by t."""
        xs = [c for ts, c in samples if ts <= t]
        return xs[-1] if xs else None

    cpu = wait_cpu = None
    if len(samples) >= 2:
        cpu = samples[-1][1] - samples[0][1]
        a, b = at(t_sig + 0.5), at(t_sig + SCALE_STUB_T - 0.5)
        if a is not None and b is not None:
            wait_cpu = b - a
    span = samples[-1][0] - t_sig if samples else None
    return base("scale-stubborn", m, idx, n=n, timeout_s=SCALE_STUB_T, nofile=lim,
                status=status if exited else "no exit in %d s" % (SCALE_STUB_T + 30),
                started=len(firsts), got_sigterm=ignored,
                exit_s=round(run.t_exit - t_sig, 4) if exited else None,
                cpu_s=round(cpu, 3) if cpu is not None else None,
                cpu_span_s=round(span, 3) if span else None,
                cpu_frac=round(cpu / span, 4) if cpu is not None and span else None,
                wait_cpu_s=round(wait_cpu, 3) if wait_cpu is not None else None,
                wait_span_s=SCALE_STUB_T - 1.0,
                wait_cpu_frac=round(wait_cpu / (SCALE_STUB_T - 1.0), 4) if wait_cpu is not None else None,
                samples=len(samples),
                cpu_trace=[(round(t - t_sig, 2), round(c - samples[0][1], 2)) for t, c in samples[::5]],
                exit=H.exit_desc(rc), stop=stop, left_behind=len(left),
                tail=_tail(run) if status != "ok" else None)


def scale_low_nofile(ctx, m, idx, n):
    """The limit probe: n polite children with drover's soft open-file
    limit at SCALE_LOW_NOFILE (the usual default) instead of the hard
    limit. Records how many started, whether drover kept running, what it
    said, and how it stopped."""
    run, token, firsts = _scale_start(ctx, m, "scale-nofile", n, idx, nofile=SCALE_LOW_NOFILE)
    running = not run.exited()
    lim = _limit_nofile(run.pid) if running else None
    fds = _fds(run.pid) if running else None
    kids = sum(1 for _, a in H.with_token(token) if a and a[0] == ctx.gen)
    t_sig = H.now()
    run.send(signal.SIGINT)
    exited = run.wait(30)
    rc = run.returncode
    stop = run.stop()
    left = H.kill_leftovers(token)
    return base("scale-nofile", m, idx, n=n, soft_nofile=SCALE_LOW_NOFILE, nofile=lim,
                status="ok" if len(firsts) == n else "not all started (%d/%d)" % (len(firsts), n),
                started=len(firsts), children=kids, running_after_start=running, fds=fds,
                stop_s=round(run.t_exit - t_sig, 4) if exited and running else None,
                exit=H.exit_desc(rc), stop=stop, left_behind=len(left), tail=_said(run))

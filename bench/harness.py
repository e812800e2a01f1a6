"""Machinery shared by drover's benchmark scenarios (bench/run).

Standard library only; Linux only (pidfd_open, /proc).

A *manager* is one line `NAME=TEMPLATE` (see bench/peers). The template is a
command line, split as a shell splits words, with placeholders:

    {procfile}      absolute path of the run's Procfile
    {dir}           the run's folder (also the manager's working directory)
    {bench}         this folder (for bench/adapters/)
    {drover}        the drover binary under test
    {timeout:TEXT}  TEXT in the scenario that asks for a 1 s stop timeout
                    (the stubborn child), nothing elsewhere

Every run writes a Procfile into a fresh folder whose name holds a numeric
token unique to the run; every child command carries that token in its argv
(its --pidfile path, or `sleep 1000.<token>`), so the processes of a run are
found in /proc by token and never by name. The manager gets stdin /dev/null,
its own session (no terminal; its process group is its pid), and stdout and
stderr appended to out.txt, unless a scenario wants a pipe.
"""

import atexit
import json
import os
import random
import re
import resource
import select
import shlex
import signal
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
now = time.monotonic


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ managers

class Manager:
    def __init__(self, name, template):
        self.name = name
        self.template = template

    def argv(self, procfile, rundir, drover, timeout1=False):
        def opt(m):
            return m.group(1) if timeout1 else ""
        tmpl = re.sub(r"\{timeout:([^}]*)\}", opt, self.template)
        subst = {"{procfile}": procfile, "{dir}": rundir, "{bench}": BENCH, "{drover}": drover}
        out = []
        for word in shlex.split(tmpl):
            for k, v in subst.items():
                word = word.replace(k, v)
            out.append(word)
        return out

    def program(self, drover):
        """The executable the template runs, and for an adapter the tool it wraps."""
        first = self.argv("P", "D", drover)[0]
        wraps = None
        if os.path.dirname(first) == os.path.join(BENCH, "adapters"):
            wraps = os.path.basename(first)
        return first, wraps


def parse_managers(lines):
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise SystemExit("bench: a manager is NAME=TEMPLATE, got %r" % line)
        name, tmpl = line.split("=", 1)
        out.append(Manager(name.strip(), tmpl.strip()))
    return out


def which(prog):
    if "/" in prog:
        return prog if os.access(prog, os.X_OK) else None
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, prog)
        if os.access(p, os.X_OK) and not os.path.isdir(p):
            return p
    return None


# ------------------------------------------------------------------ /proc

CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def cmdline(pid):
    return [a.decode(errors="replace") for a in read_bytes("/proc/%d/cmdline" % pid).split(b"\0") if a]


def stat(pid):
    """(state, ppid, cpu seconds) or None."""
    data = read_bytes("/proc/%d/stat" % pid)
    if not data:
        return None
    f = data[data.rfind(b")") + 2:].split()
    return f[0].decode(), int(f[1]), (int(f[11]) + int(f[12])) / CLK_TCK


def status_kb(pid, key):
    for line in read_bytes("/proc/%d/status" % pid).decode(errors="replace").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def pss_kb(pid):
    for line in read_bytes("/proc/%d/smaps_rollup" % pid).decode(errors="replace").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def alive(pid):
    st = stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def with_token(token):
    """Live processes whose argv holds token: [(pid, argv)]."""
    me = os.getpid()
    tb = token.encode()
    out = []
    for pid in pids():
        if pid != me and tb in read_bytes("/proc/%d/cmdline" % pid) and alive(pid):
            out.append((pid, cmdline(pid)))
    return out


def tree(root):
    kids = {}
    for pid in pids():
        st = stat(pid)
        if st:
            kids.setdefault(st[1], []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


WORKLOAD = ("drover-testchild", "sleep")


def manager_side(root):
    """The manager's process tree minus the workload (the generators and
    sleeps): the manager, its helpers and any `sh -c` wrappers.
    Returns cpu_s, rss_kb (summed), pss_kb (summed), procs, and the root's
    VmHWM and VmRSS."""
    cpu, rss, pss, n = 0.0, 0, 0, 0
    for pid in tree(root):
        argv = cmdline(pid)
        if pid != root and argv and os.path.basename(argv[0]) in WORKLOAD:
            continue
        st = stat(pid)
        if not st:
            continue
        cpu += st[2]
        rss += status_kb(pid, "VmRSS") or 0
        pss += pss_kb(pid) or 0
        n += 1
    return {"cpu_s": cpu, "rss_kb": rss, "pss_kb": pss, "procs": n,
            "hwm_kb": status_kb(root, "VmHWM"), "root_rss_kb": status_kb(root, "VmRSS")}


def pidfd(pid):
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------ runs

_live = []       # Runs whose manager may still run
_tokens = set()  # tokens of runs not yet cleaned up


def _default_signals():
    """In the manager before exec: default dispositions and an empty mask,
    whatever the harness was started with (nohup, a background job)."""
    for s in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE,
              signal.SIGXFSZ):
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _nofile_preexec(soft):
    """A pre-exec hook: default signals (above) and the soft RLIMIT_NOFILE
    set to `soft` ("hard": the hard limit, as `ulimit -n $(ulimit -Hn)`)."""
    def hook():
        _default_signals()
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if soft == "hard" else min(int(soft), hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return hook


def _at_exit():
    for run in list(_live):
        if run.t_exit is None:
            for fn in (os.killpg, os.kill):
                try:
                    fn(run.pid, signal.SIGKILL)
                except OSError:
                    pass
    for tok in list(_tokens):
        kill_leftovers(tok, grace=0)


def _on_term(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(_at_exit)
signal.signal(signal.SIGTERM, _on_term)
signal.signal(signal.SIGHUP, _on_term)


class Ctx:
    """What every scenario needs: where to work, what to run."""

    def __init__(self, work, drover, gen, quick):
        self.work = work
        self.drover = drover
        self.gen = gen
        self.quick = quick

    def rundir(self, scenario, manager, idx):
        token = "%d%06d" % (random.randint(1000, 9999), (os.getpid() * 7919 + len(_tokens) * 104729 + idx) % 1000000)
        while token in _tokens:
            token = str(int(token) + 1)
        _tokens.add(token)
        d = os.path.join(self.work, "runs", scenario, manager, "%d-%s" % (idx, token))
        os.makedirs(d, exist_ok=True)
        return d, token


def write_procfile(rundir, entries):
    path = os.path.join(rundir, "Procfile")
    with open(path, "w") as f:
        for name, cmd in entries:
            f.write("%s: %s\n" % (name, cmd))
    return path


class Run:
    """One manager under test."""

    def __init__(self, ctx, manager, procfile, rundir, stdout_pipe=False, timeout1=False,
                 extra=(), nofile=None):
        """extra: more arguments after the template's; nofile: the manager's
        soft open-file limit (a number, or "hard"), else the harness's own."""
        self.rundir = rundir
        self.out_path = os.path.join(rundir, "out.txt")
        fd = os.open(self.out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        argv = manager.argv(procfile, rundir, ctx.drover, timeout1) + list(extra)
        with open(os.path.join(rundir, "argv.txt"), "w") as f:
            f.write(shlex.join(argv) + "\n")
        self.pipe_r = None
        out = fd
        if stdout_pipe:
            r, w = os.pipe()
            os.set_blocking(r, False)
            self.pipe_r, out = r, w
        self.t_launch_wall = time.time()
        self.t_launch = now()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=fd, cwd=rundir,
                                     start_new_session=True,
                                     preexec_fn=_nofile_preexec(nofile) if nofile else _default_signals)
        os.close(fd)
        if stdout_pipe:
            os.close(out)
        self.pid = self.proc.pid
        self.fd = os.pidfd_open(self.pid)
        self.t_exit = None
        self.returncode = None
        _live.append(self)

    def wait(self, timeout):
        """Waits up to timeout s for the manager to exit; True if it has."""
        if self.t_exit is not None:
            return True
        p = select.poll()
        p.register(self.fd, select.POLLIN)
        if p.poll(max(0.0, timeout) * 1000):
            self.t_exit = now()
            self.returncode = self.proc.wait()
            os.close(self.fd)
            _live.remove(self)
            return True
        return False

    def exited(self):
        return self.wait(0)

    def send(self, sig, group=False):
        if self.t_exit is not None:
            return
        try:
            (os.killpg if group else os.kill)(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, first=signal.SIGTERM, then=signal.SIGINT, wait_s=5.0):
        """Clean-up, not a measurement: first, then, then SIGKILL to the group."""
        if self.exited():
            return "exited"
        for sig in (first, then):
            self.send(sig)
            if self.wait(wait_s):
                return "stopped by %s" % signal.Signals(sig).name
        self.send(signal.SIGKILL, group=True)
        self.send(signal.SIGKILL)
        self.wait(10)
        return "SIGKILLed"

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read()


def kill_leftovers(token, grace=0.3):
    """After `grace` s, SIGKILLs (by pid) the processes of the run still alive;
    returns their argvs."""
    if grace:
        time.sleep(grace)
    left = with_token(token)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = now() + 5
    while now() < end and any(alive(p) for p, _ in left):
        time.sleep(0.01)
    _tokens.discard(token)
    return [" ".join(a)[:100] for _, a in left]


def exit_desc(rc):
    if rc is None:
        return None
    return "signal %s" % signal.Signals(-rc).name if rc < 0 else "code %d" % rc


class Follower:
    """Reads a growing file (or a non-blocking pipe) incrementally."""

    def __init__(self, path=None, fd=None):
        self.fd = fd if fd is not None else os.open(path, os.O_RDONLY)
        self.own = fd is None
        self.size = 0
        self.eof = False

    def read(self, limit=None):
        chunks = []
        got = 0
        while limit is None or got < limit:
            try:
                b = os.read(self.fd, 1 << 20 if limit is None else min(1 << 16, limit - got))
            except BlockingIOError:
                break
            if not b:
                if not self.own:
                    self.eof = True
                break
            chunks.append(b)
            got += len(b)
        self.size += got
        return b"".join(chunks)

    def close(self):
        os.close(self.fd)


class MarkerScan:
    """Counts occurrences of a marker in a file, scanning only what was
    not scanned yet, through one reused buffer (no per-read allocation)."""

    def __init__(self, fd, marker):
        self.fd = fd
        self.marker = marker
        self.pos = 0
        self.count = 0
        self.buf = bytearray(1 << 20)
        self.keep = 0  # bytes carried over: a marker may straddle two reads

    def update(self):
        mv = memoryview(self.buf)
        k = len(self.marker) - 1
        while True:
            n = os.preadv(self.fd, [mv[self.keep:]], self.pos)
            if n <= 0:
                return self.count
            self.pos += n
            end = self.keep + n
            self.count += self.buf.count(self.marker, 0, end)
            tail = min(k, end)
            self.buf[0:tail] = self.buf[end - tail:end]
            self.keep = tail


# ------------------------------------------------------------------ checking

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
DIGITS = re.compile(rb"[0-9]+")


def fnv1a32(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def pad_letter(tag):
    """drover-testchild pads a line with 'a' + fnv1a32(TAG) % 26."""
    return bytes([ord("a") + fnv1a32(tag.encode()) % 26])


def check_lines(data, tags, n, length, markers=()):
    """Checks every line the generators (drover-testchild) wrote.

    Each expected line is `TAG SEQ PAD` (SEQ 8 digits, PAD one letter, the
    whole line `length` bytes with its newline); the manager may put a prefix
    before it. A line is *intact* when it ends with exactly the expected
    bytes for its tag and number and its prefix (digits ignored: timestamps)
    is the prefix most lines of that tag carry; anything else that holds a
    readable `TAG SEQ` is *torn* (cut, glued to another line, or behind a
    foreign prefix). All tags must have the same length.
    Returns lines_expected, intact, reached (tag and number seen at all),
    lost (never seen), torn (reached but not intact), dup (intact twice),
    order (an intact line of a tag after a higher number of the same tag),
    markers (marker lines found), other (lines that are neither).
    """
    tl = len(tags[0])
    assert all(len(t) == tl for t in tags)
    plen = length - 1
    tails = {t.encode(): b" " + pad_letter(t) * (plen - tl - 10) for t in tags}
    intact = {t: bytearray(n + 1) for t in tails}
    reached = {t: bytearray(n + 1) for t in tails}
    last = dict.fromkeys(tails, 0)
    prefixes = {t: {} for t in tails}
    seen_prefix = []
    dup = order = other = nmark = 0
    markers = tuple(m.encode() for m in markers)
    head = re.compile(b"(" + b"|".join(re.escape(t) for t in tails) + rb") ([0-9]{8})")
    examples = []

    def torn(line):
        found = False
        for m in head.finditer(line):
            s = int(m.group(2))
            if 1 <= s <= n:
                reached[m.group(1)][s] = 1
                found = True
        if found and len(examples) < 3:
            examples.append(line[:160].decode(errors="replace"))
        return found

    for line in data.split(b"\n"):
        if not line:
            continue
        if line[-1:] == b"\r":
            line = line[:-1]
        if b"\x1b" in line:
            line = ANSI.sub(b"", line)
        if markers and line.endswith(markers):
            nmark += 1
            continue
        p = line[-plen:]
        tag = p[:tl]
        tail = tails.get(tag)
        if (tail is None or len(line) < plen or p[tl:tl + 1] != b" " or p[tl + 9:] != tail
                or not p[tl + 1:tl + 9].isdigit()):
            if not torn(line):
                other += 1
            continue
        s = int(p[tl + 1:tl + 9])
        if not 1 <= s <= n:
            torn(line)
            continue
        reached[tag][s] = 1
        pre = line[:-plen]
        if head.search(pre):
            torn(line)
            continue
        pre = DIGITS.sub(b"9", pre)
        pc = prefixes[tag]
        pc[pre] = pc.get(pre, 0) + 1
        seen_prefix.append((tag, s, pre))
        if intact[tag][s]:
            dup += 1
        intact[tag][s] = 1
        if s < last[tag]:
            order += 1
        else:
            last[tag] = s
    usual = {t: max(pc, key=pc.get) for t, pc in prefixes.items() if pc}
    for tag, s, pre in seen_prefix:
        if pre != usual[tag] and intact[tag][s]:
            intact[tag][s] = 0
            if len(examples) < 3:
                examples.append("foreign prefix %r for %s %d" % (pre, tag, s))
    n_intact = sum(sum(b) for b in intact.values())
    n_reached = sum(sum(b) for b in reached.values())
    exp = n * len(tags)
    return {"lines_expected": exp, "intact": n_intact, "reached": n_reached,
            "lost": exp - n_reached, "torn": n_reached - n_intact, "dup": dup, "order": order,
            "markers": nmark, "other_lines": other, "torn_examples": examples}


# ------------------------------------------------------------------ records

def emit(path, rec):
    rec.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%S"))
    with open(path, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
    brief = {k: v for k, v in rec.items() if k not in ("time", "torn_examples", "left_argv", "template", "cpu_trace")}
    print(json.dumps(brief, sort_keys=True), flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

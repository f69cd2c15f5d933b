#!/usr/bin/env python3
"""bench/procmem.py: memory and CPU of the stack's processes, by group.

  procmem.py mem --master PID --api-socket P --stream-socket P [--nginx PID] [--redis PID]
  procmem.py cpu --seconds S  (same options)

Groups: master; api, stream and runner workers (children of the master,
told apart by the listening unix socket they hold: api, stream, none);
nginx (master + workers); redis; --extra pids. `mem` prints, per group, the process count
and the sums of Private_* (what the processes really cost), Pss and Rss from
/proc/PID/smaps_rollup, in kB, plus MemAvailable. `cpu` samples for S
seconds and prints each group's CPU time and the whole machine's busy time,
in cores (1.0 = one core fully busy), including workers that exited and were
replaced meanwhile (MAX_REQUESTS), and `others_cores`: the machine's busy
time minus all these, i.e. other work. One JSON object on stdout.
"""
import argparse
import json
import os
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def listen_inodes(paths):
    """{inode: path} of listening unix sockets bound to PATHS."""
    want, found = set(p for p in paths if p), {}
    with open("/proc/net/unix") as f:
        next(f)
        for ln in f:
            p = ln.split()
            # Num RefCount Protocol Flags Type St Inode [Path]; Flags 00010000 = listening
            if len(p) >= 8 and p[7] in want and p[3] == "00010000":
                found[p[6]] = p[7]
    return found


def socket_of(pid, inodes):
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    for fd in fds:
        try:
            l = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if l.startswith("socket:[") and l[8:-1] in inodes:
            return inodes[l[8:-1]]
    return None


def groups(a):
    g = {"master": [a.master], "api_workers": [], "stream_workers": [], "runner_workers": []}
    inodes = listen_inodes([a.api_socket, a.stream_socket])
    for c in children(a.master):
        s = socket_of(c, inodes)
        if s == a.api_socket:
            g["api_workers"].append(c)
        elif s == a.stream_socket:
            g["stream_workers"].append(c)
        else:
            g["runner_workers"].append(c)
    if a.nginx:
        g["nginx"] = [a.nginx] + children(a.nginx)
    if a.redis:
        g["redis"] = [a.redis]
    if a.extra:
        g["extra"] = list(a.extra)
    if a.peer:
        g["peer"] = descendants(a.peer)
    if a.clients:
        g["clients"] = descendants(a.clients)
    return g


def descendants(pids):
    """PIDS and all their descendants (the peer stack of bench/compare.sh)."""
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo.extend(children(p))
    return out


def smaps(pid):
    priv = pss = rss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for ln in f:
                if ln.startswith("Private_"):
                    priv += int(ln.split()[1])
                elif ln.startswith("Pss:"):
                    pss = int(ln.split()[1])
                elif ln.startswith("Rss:"):
                    rss = int(ln.split()[1])
    except OSError:
        return None
    return priv, pss, rss


def meminfo(key):
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith(key + ":"):
                return int(ln.split()[1])
    return 0


def cmd_mem(a):
    out = {}
    for name, pids in groups(a).items():
        n = priv = pss = rss = 0
        for p in pids:
            m = smaps(p)
            if m is None:
                continue
            n += 1
            priv, pss, rss = priv + m[0], pss + m[1], rss + m[2]
        out[name] = {"n": n, "private_kb": priv, "pss_kb": pss, "rss_kb": rss}
    out["mem_available_kb"] = meminfo("MemAvailable")
    return out


def cputime(pid):
    """CPU time of PID, all its threads, in ns (/proc/PID/task/*/schedstat:
    exact, unlike the tick-rounded utime/stime, which would read 0 for a
    process that runs a few microseconds at a time)."""
    tot, seen = 0, False
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                tot += int(f.read().split()[0])
                seen = True
        except (OSError, ValueError, IndexError):
            pass
    return tot if seen else None


def machine_busy():
    """(busy, busy without irq/softirq) in ticks, all CPUs (/proc/stat).
    Steal (the hypervisor running something else) counts as busy."""
    with open("/proc/stat") as f:
        p = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = (p + [0] * 8)[:8]
    base = user + nice + system + steal
    return base + irq + softirq, base


def cpu_pressure_us():
    """/proc/pressure/cpu "some" total (µs some task waited for a CPU), or None."""
    try:
        with open("/proc/pressure/cpu") as f:
            for ln in f:
                if ln.startswith("some "):
                    return int(ln.split("total=")[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reaped_ns(pid):
    """CPU time of PID's reaped children (cutime + cstime), in ns."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return 0
    p = st[st.rindex(")") + 2:].split()
    return (int(p[13]) + int(p[14])) * 1000000000 // HZ  # fields 16, 17


def cmd_cpu(a):
    g0 = groups(a)
    start = {p: cputime(p) for pids in g0.values() for p in pids}
    r0 = reaped_ns(a.master)
    (m0, n0), p0, t0 = machine_busy(), cpu_pressure_us(), time.monotonic()
    time.sleep(a.seconds)
    (m1, n1), p1, dt = machine_busy(), cpu_pressure_us(), time.monotonic() - t0
    # Classify again: workers that exit (MAX_REQUESTS) are replaced meanwhile.
    g1 = groups(a)
    r1 = reaped_ns(a.master)
    out = {"seconds": round(dt, 3), "machine_cores_busy": round((m1 - m0) / HZ / dt, 3),
           "ncpu": os.cpu_count()}
    ours = 0.0
    alive = set()
    for n, pids in g1.items():
        tot = 0
        for p in pids:
            e = cputime(p)
            if e is None:
                continue
            alive.add(p)
            b = start.get(p)
            tot += e - (b if b is not None else 0)   # born meanwhile: all of it
        out[n] = round(tot / 1e9 / dt, 4)
        ours += tot / 1e9 / dt
    # Master's children that exited meanwhile: their whole CPU time was
    # added to the master's cutime/cstime when reaped; take off what they had
    # used before the window. (Tick resolution; fine for busy workers.)
    gone = [p for n in ("api_workers", "stream_workers", "runner_workers")
            for p in g0.get(n, []) if p not in alive]
    exited = max(0, (r1 - r0) - sum(start.get(p) or 0 for p in gone))
    out["exited_workers"] = round(exited / 1e9 / dt, 4)
    out["exited_workers_n"] = len(gone)
    ours += exited / 1e9 / dt
    # Everything else the machine did meanwhile: other work, and steal. The
    # irq/softirq ticks are left out: without CONFIG_IRQ_TIME_ACCOUNTING a
    # task's schedstat already includes the softirq work (loopback traffic)
    # done while it ran.
    out["ours_cores"] = round(ours, 3)
    # Share of the time some runnable task waited for a CPU (PSI).
    if p0 is not None and p1 is not None:
        out["cpu_pressure_pct"] = round((p1 - p0) / 1e4 / dt, 1)
    out["others_cores"] = round(max(0.0, (n1 - n0) / HZ / dt - ours), 3)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("mem", "cpu"))
    ap.add_argument("--master", type=int, required=True)
    ap.add_argument("--api-socket", required=True)
    ap.add_argument("--stream-socket", required=True)
    ap.add_argument("--nginx", type=int)
    ap.add_argument("--redis", type=int)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--extra", type=int, action="append",
                    help="another pid to count as ours (group 'extra'); repeatable")
    ap.add_argument("--clients", type=int, action="append",
                    help="a client pid counted with its descendants as ours (group 'clients'); repeatable")
    ap.add_argument("--peer", type=int, action="append",
                    help="a pid counted with all its descendants as ours (group 'peer'); repeatable")
    ap.add_argument("--list", action="store_true", help="mem: print the pids of each group instead")
    a = ap.parse_args()
    if a.what == "mem" and a.list:
        print(json.dumps(groups(a)))
        return 0
    print(json.dumps(cmd_mem(a) if a.what == "mem" else cmd_cpu(a)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Run one `tessera-cli` command under a pseudo-terminal (so it prints its progress line) for
bench/run-scale.sh, and report as one JSON object on stdout: wall seconds, exit status, peak RSS
(VmHWM of the CLI, KiB), the largest temporary cache file the CLI held open (bytes allocated on
disk, polled every 0.2 s through /proc/PID/fd: the file is unlinked, only the descriptor keeps
it), the progress rows (time, phase, done, total, shown time left, the CLI's RSS in KiB at the last poll,
the CLI's CPU seconds — user + system — when the row was read), the CLI's CPU seconds in all ('cpu') and, with --cancel-at
PHASE:FRACTION, the seconds from SIGINT to the process' exit.

Usage: scale-run.py [--cancel-at PHASE:FRACTION] -- COMMAND…"""
import json, os, pty, re, select, signal, sys, time

TICK = os.sysconf('SC_CLK_TCK')


def cpu_seconds(pid):
    """user + system CPU seconds of a running process (its threads included), or None"""
    try:
        with open(f'/proc/{pid}/stat') as f:
            rest = f.read().rsplit(')', 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None

args = sys.argv[1:]
cancel = None
if args[:1] == ['--cancel-at']:
    ph, fr = args[1].rsplit(':', 1)
    cancel = (ph, float(fr))
    args = args[2:]
if args[:1] == ['--']:
    args = args[1:]

t0 = time.time()
pid, fd = pty.fork()
if pid == 0:
    os.environ['COLUMNS'] = '200'
    os.execvp(args[0], args)

rows, buf, peak_kib, rss_kib, disk, tail = [], b'', 0, 0, 0, ''
t_kill = None
status = None
cpu_all = None
while True:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            d = os.read(fd, 65536)
        except OSError:
            d = b''
        if d:
            buf += d
            parts = re.split(rb'[\r\n]', buf)
            buf = parts[-1]
            for p in parts[:-1]:
                s = p.decode('utf-8', 'replace').replace('\x1b[K', '')
                if s.strip():
                    tail = s.strip()
                m = re.search(r'(\S.*?)\s+(\d+)/(\d+)\s+([\d.]+) s(?:\s+\((\d+) s left)?', s)
                if m:
                    rows.append((time.time() - t0, m.group(1).strip(), int(m.group(2)), int(m.group(3)),
                                 float(m.group(5)) if m.group(5) else None, rss_kib, cpu_seconds(pid)))
                    if cancel and t_kill is None and rows[-1][1] == cancel[0] and rows[-1][2] >= cancel[1] * rows[-1][3]:
                        os.kill(pid, signal.SIGINT)
                        t_kill = time.time()
    # the CLI's peak RSS and its cache file
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    peak_kib = max(peak_kib, int(line.split()[1]))
                elif line.startswith('VmRSS:'):
                    rss_kib = int(line.split()[1])
        for n in os.listdir(f'/proc/{pid}/fd'):
            try:
                link = os.readlink(f'/proc/{pid}/fd/{n}')
                if 'tessera-cache-' in link:
                    disk = max(disk, os.stat(f'/proc/{pid}/fd/{n}').st_blocks * 512)
            except OSError:
                pass
    except OSError:
        pass
    w, st, ru = os.wait4(pid, os.WNOHANG)
    if w == pid:
        status = st
        cpu_all = ru.ru_utime + ru.ru_stime
        break
t_end = time.time()
try:
    while True:
        d = os.read(fd, 65536)
        if not d:
            break
        tail = (tail + d.decode('utf-8', 'replace')).strip().splitlines()[-1] if d.strip() else tail
except OSError:
    pass
out = {
    'wall': t_end - t0,
    'rc': os.waitstatus_to_exitcode(status),
    'peak_rss_kib': peak_kib,
    'cache_file_bytes': disk,
    'cpu': cpu_all,
    'rows': rows,
    'last_line': tail,
}
if t_kill is not None:
    out['cancel_latency'] = t_end - t_kill
    out['cancelled_at'] = rows[-1][:4] if rows else None
print(json.dumps(out))

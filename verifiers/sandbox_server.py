"""The process that runs inside the sandbox and starts each untrusted program (stdlib only).

The parent passes this file's source to `python -I -c`, so it needs no readable install path
inside the sandbox. It never runs untrusted code itself: for each request it forks a child
that sets its limits and `exec`s a fresh interpreter on the program, so no process ever runs
two programs. After each program it kills every process it may signal (`kill(-1)`: in the
sandbox's pid namespace, or under the sandbox's own uid), reaps them as child subreaper,
and wipes the scratch file systems, so one program leaves nothing for the next.

Protocol: one JSON request per line on stdin, one JSON result per line on stdout. A request
with a `judge` (source) and `judge_config` runs that judge instead of the program (`judged`):
it gets the write end of a report pipe, and what it writes there comes back as the result's
`report` (see `code_judge.py`); the program is never given that pipe.
"""

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
_libc = ctypes.CDLL(None, use_errno=True)


def setup(mode, uid):
    """Without bubblewrap: leave the network, then drop to the sandbox uid."""
    if mode == "bwrap":
        return "bwrap"
    net = False
    if os.geteuid() == 0:
        net = _libc.unshare(CLONE_NEWNET) == 0
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    else:
        net = _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0
    return "netns" if net else "no-netns"


def scratch_dirs():
    return [
        d for d in (os.environ.get("SANDBOX_SCRATCH"), "/dev/shm") if d and os.access(d, os.W_OK)
    ]


def wipe(dirs):
    for d in dirs:
        for name in os.listdir(d):
            p = os.path.join(d, name)
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    os.unlink(p)
            except OSError:
                pass


def sysv_ipc_left():
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                if len(f.read().splitlines()) > 1:
                    return True
        except OSError:
            pass
    return False


KILL_ALL = False  # set by main(): only where kill(-1) reaches nothing but the sandbox


def kill_all(pgid=None):
    """Kill every process of the sandbox except this server, until none is left.

    In a pid namespace (bubblewrap) or under a uid of its own, `kill(-1)` reaches exactly the
    sandbox's processes. Otherwise (an unprivileged user without bubblewrap) it would reach
    the user's own processes, so only the program's session is killed.
    """
    for _ in range(1000):
        try:
            if KILL_ALL:
                os.kill(-1, signal.SIGKILL)
            elif pgid:
                os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
        except ChildProcessError:
            return  # no children left (orphans are reparented to us: we are subreaper)
        time.sleep(0.001)


def read_capped(path, cap):
    try:
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except OSError:
        return "", False
    return data[:cap].decode("utf-8", "replace"), len(data) > cap


def read_report(fd, cap=1 << 16):
    """What the judge wrote to its report pipe (every writer is dead by now), or None."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while len(data) <= cap:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return data[:cap].decode("utf-8", "replace") if data else None


def judged(req, env, report_w):
    """A judged run: the judge runs in this fork of the server, with the program's limits
    already set. It is a fresh fork of a process that never ran untrusted code, is not
    dumpable (inherited), and has its modules loaded: no interpreter to start. It forks the
    program's process itself (see `code_judge.py`) and never returns."""
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["judge.py"]
    judge = {"__name__": "rd_judge", "__builtins__": __builtins__}
    exec(compile(req["judge"], "judge.py", "exec"), judge)
    judge["main"](report_w)
    os._exit(0)


def child(req, run_dir, status_w, report_w, python):
    try:
        os.setsid()
        os.chdir(run_dir)
        fd0 = os.open("stdin.txt", os.O_RDONLY)
        fd1 = os.open("stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        fd2 = os.open("stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((fd0, 0), (fd1, 1), (fd2, 2)):
            os.dup2(fd, target)
        keep = sorted(fd for fd in (status_w, report_w) if fd is not None)
        low = 3
        for fd in keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 16)
        with open("prog.py", "rb") as f:
            src = f.read()
        mem = int(req["memory_mb"]) * 1024 * 1024
        cpu = max(1, int(req["cpu_s"] + 0.999))
        limits = [
            (resource.RLIMIT_AS, mem),
            (resource.RLIMIT_CPU, cpu),  # soft; the hard limit is a second later
            (resource.RLIMIT_NPROC, int(req["max_procs"])),
            (resource.RLIMIT_FSIZE, int(req["max_output"]) + 1),
            (resource.RLIMIT_NOFILE, 256),
            (resource.RLIMIT_CORE, 0),
        ]
        for lim, value in limits:
            hard = value + 1 if lim == resource.RLIMIT_CPU else value
            resource.setrlimit(lim, (value, hard))
        try:
            compile(src, "prog.py", "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as e:
            os.write(2, f"{type(e).__name__}: {e}\n".encode())
            os.write(status_w, b"S")
            os._exit(1)
        os.write(status_w, b"C")
        os.close(status_w)
        env = {"PATH": "/usr/bin:/bin", "HOME": run_dir, "LANG": "C.UTF-8", "TMPDIR": run_dir}
        env["PYTHONHASHSEED"] = "0"
        if report_w is not None:
            judged(req, env, report_w)
        os.execve(python, [python, "-I", "prog.py"], env)
    except BaseException:
        os._exit(126)


def run(req, n, python):
    scratch = os.environ.get("SANDBOX_SCRATCH", "/tmp")
    run_dir = os.path.join(scratch, f"run{n}")
    os.mkdir(run_dir, 0o700)
    with open(os.path.join(run_dir, "prog.py"), "w", encoding="utf-8") as f:
        f.write(req["code"])
    with open(os.path.join(run_dir, "stdin.txt"), "w", encoding="utf-8") as f:
        f.write(req.get("stdin") or "")
    report_r = report_w = None
    if req.get("judge"):
        with open(os.path.join(run_dir, "judge.json"), "w", encoding="utf-8") as f:
            f.write(req["judge_config"])
        report_r, report_w = os.pipe()
    status_r, status_w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(status_r)
        if report_r is not None:
            os.close(report_r)
        child(req, run_dir, status_w, report_w, python)
    os.close(status_w)
    if report_w is not None:
        os.close(report_w)
    pidfd = os.pidfd_open(pid)
    ready, _, _ = select.select([pidfd], [], [], float(req["timeout_s"]))
    timed_out = not ready
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    os.close(pidfd)
    stage = os.read(status_r, 1)
    os.close(status_r)
    kill_all(pid)  # daemons, background children: nothing outlives its program
    report = read_report(report_r) if report_r is not None else None
    cap = int(req["max_output"])
    out, out_over = read_capped(os.path.join(run_dir, "stdout.txt"), cap)
    err, err_over = read_capped(os.path.join(run_dir, "stderr.txt"), cap)
    wipe(scratch_dirs())
    if sysv_ipc_left():
        subprocess.run(["ipcrm", "--all"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if os.WIFSIGNALED(status):
        rc = -os.WTERMSIG(status)
    else:
        rc = os.WEXITSTATUS(status)
    cpu_s = usage.ru_utime + usage.ru_stime
    # RLIMIT_CPU ends a program with SIGXCPU at the soft limit (SIGKILL at the hard one, for a
    # program that ignores SIGXCPU): a time limit, like the wall clock. SIGXCPU alone decides:
    # under load rusage can read a little under the limit the kernel enforced.
    cpu_limit = rc == -signal.SIGXCPU or (
        rc == -signal.SIGKILL and cpu_s >= float(req["cpu_s"]) - 0.05
    )
    return {
        "returncode": rc,
        "stdout": out,
        "stderr": err,
        "timed_out": timed_out or cpu_limit,
        "memory_exceeded": rc != 0 and "MemoryError" in err[-2000:],
        "output_exceeded": out_over or err_over,
        "compile_error": stage == b"S",
        "wall_s": wall,
        "cpu_s": cpu_s,
        "report": report,
    }


def main():
    global KILL_ALL
    mode, uid, python = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    root = os.geteuid() == 0
    parent = os.getppid()
    net = setup(mode, uid)
    KILL_ALL = mode == "bwrap" or root
    if mode != "bwrap":
        # bubblewrap has --die-with-parent; without it, die with the parent ourselves (set
        # after the uid change, which clears it)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            return
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # programs (same uid) cannot ptrace or read us
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    hello = {"ready": True, "uid": os.getuid(), "net": net, "pid": os.getpid()}
    proto.write(json.dumps(hello) + "\n")
    for n, line in enumerate(sys.stdin, 1):
        try:
            result = run(json.loads(line), n, python)
        except Exception as e:
            kill_all()
            result = {"error": repr(e)}
        proto.write(json.dumps(result) + "\n")


main()

"""The code sandbox: run an untrusted Python program and say what it did (`run_python`).

Threat model
============
What it is for: programs written by a model (or a dataset) that may be wrong, careless or
hostile in the ways generated code is: infinite loops, fork bombs, memory bombs, deleting
files, reading secrets, opening sockets, killing its parent, leaving daemons behind.

Covered, with bubblewrap (`bwrap`, the default when it is installed and starts):
- no network: a fresh, empty network namespace (only a loopback of its own);
- the host file system is read-only; `/tmp` and `/dev/shm` are fresh, size-limited tmpfs;
  `/root` and `/home` are hidden behind empty tmpfs; `/proc` shows only the sandbox;
- a fresh pid namespace, a new session (no terminal injection), `--die-with-parent`, and no
  further user namespaces;
- an unprivileged uid of the sandbox's own (when started as root the uid is dropped before
  bubblewrap runs, so RLIMIT_NPROC applies: it is not enforced for root);
- a scrubbed environment (PATH, HOME, LANG, TMPDIR, PYTHONHASHSEED only), `python -I`;
- limits per program: wall time, CPU time, address space, processes, open files, bytes
  written (caps stdout / stderr), no core dumps;
- every process is killed after each program (`kill(-1)` inside the pid namespace, reaped
  by the server as child subreaper), then scratch space and System V IPC are wiped.

Warm servers, and why reuse is safe: a sandbox keeps one small server process (stdlib only,
`sandbox_server.py`) that never runs untrusted code. For each program it forks a child that
sets the limits and `exec`s a fresh interpreter: no process ever runs two programs, which is
what a bare `subprocess.run([python, file])` gives too; the namespace setup (~45 ms) is paid
once per sandbox instead of once per program. What two programs run in one sandbox still
share is the tmpfs (wiped between runs), the loopback network (its listeners die with their
processes) and the uid; the server is not dumpable, so a program cannot ptrace it or read its
memory; a program that kills the server only loses its own result. A sandbox is retired
after `RETIRE_AFTER` programs anyway.

Judged runs (`run_python(..., judge_config=...)`, the `assert`/`call` tests of `code.py`):
the server forks a judge (`code_judge.py`) instead of starting the program; the judge forks
the program's process, runs the tests itself against proxies that carry only data, and
reports on a pipe the program never holds, so no program can forge its own verdict. The
program's process is then a fork of the server's, not a fresh interpreter: it sees the
server's already-imported modules and whatever its memory still holds (earlier requests: other rows' programs and tests, no secret); the server never ran untrusted code.

Weaker, when bubblewrap is missing or cannot start (no user namespaces): the same server
runs as a plain process. As root it first leaves the network (`unshare(CLONE_NEWNET)`) and
drops to a uid of its own; unprivileged, it tries a user+network namespace. The file system
is then NOT read-only: the program can write wherever that uid may (world-writable places
such as /tmp), and it can see other processes. `sandbox_info()["isolation"]` says which
level is active, and each `ExecResult.isolation` too.

Not covered: kernel exploits and side channels; CPU and memory bandwidth contention with the
host (a busy program slows its neighbours); reading world-readable host files (the read-only
view includes them); programs needing packages the sandbox interpreter lacks (it runs the
first interpreter the sandbox uid can execute: `$RDISTILL_SANDBOX_PYTHON`, this Python's base
interpreter, or /usr/bin/python3).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RETIRE_AFTER = 500
_SERVER_SRC = (Path(__file__).with_name("sandbox_server.py")).read_text(encoding="utf-8")
_JUDGE_SRC = (Path(__file__).with_name("code_judge.py")).read_text(encoding="utf-8")
_START_TIMEOUT_S = 30.0
_GRACE_S = 10.0  # server-side overhead allowed on top of a program's own time limit


@dataclass
class ExecResult:
    """What a program did: exit status (negative: killed by that signal), its output (capped),
    and which limit stopped it, if any."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    memory_exceeded: bool
    wall_s: float
    output_exceeded: bool = False
    compile_error: bool = False
    cpu_s: float = 0.0
    isolation: str = ""
    sandbox_lost: bool = False  # the sandbox itself died (e.g. the program killed it)
    report: dict | None = None  # a judged run: the judge's report (never the program's words)


def _uid_base() -> int:
    # a uid block of this process's own, so `kill(-1)` and RLIMIT_NPROC in one sandbox never
    # reach another sandbox or an unrelated `nobody` process
    return 200_000_000 + (os.getpid() % 100_000) * 1000


_uid_counter = itertools.count()


def _new_uid() -> int:
    return _uid_base() + next(_uid_counter) % 1000


def _runs_as(python: str, uid: int | None) -> bool:
    kw: dict[str, Any] = {}
    if uid is not None:
        kw = {"user": uid, "group": uid, "extra_groups": []}
    try:
        r = subprocess.run(
            [python, "-I", "-c", "import json, resource"],
            capture_output=True,
            timeout=30,
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
            **kw,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def _find_python(uid: int | None) -> str:
    cands = [
        os.environ.get("RDISTILL_SANDBOX_PYTHON"),
        getattr(sys, "_base_executable", None),
        sys.executable,
        "/usr/bin/python3",
        shutil.which("python3"),
    ]
    seen = set()
    for c in cands:
        if not c:
            continue
        real = os.path.realpath(c)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        if _runs_as(real, uid):
            return real
    raise RuntimeError(
        "sandbox: no Python interpreter the sandbox uid can run (a venv under /root is not "
        "executable by an unprivileged uid); set RDISTILL_SANDBOX_PYTHON to one that is"
    )


def _bwrap_argv(bwrap: str, python: str, uid: int) -> list[str]:
    argv = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
    ]
    argv += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    argv += ["--size", str(256 << 20), "--tmpfs", "/tmp"]
    argv += ["--size", str(64 << 20), "--tmpfs", "/dev/shm"]
    for hidden in ("/root", "/home", "/run"):
        if os.path.isdir(hidden):
            argv += ["--tmpfs", hidden]
    argv += ["--chdir", "/tmp", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin"]
    argv += ["--setenv", "SANDBOX_SCRATCH", "/tmp"]
    return argv + [python, "-I", "-c", _SERVER_SRC, "bwrap", str(uid), python]


class _Server:
    """One warm sandbox: a server process behind bubblewrap (or behind a uid drop)."""

    def __init__(self, mode: str, python: str) -> None:
        self.mode, self.python = mode, python
        self.root = os.geteuid() == 0
        self.uid = _new_uid() if self.root else os.getuid()
        self.runs = 0
        self.scratch: str | None = None
        kw: dict[str, Any] = {}
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        if mode == "bwrap":
            argv = _bwrap_argv(shutil.which("bwrap") or "bwrap", python, self.uid)
            if self.root:  # drop root before bubblewrap: RLIMIT_NPROC is not enforced for root
                kw = {"user": self.uid, "group": self.uid, "extra_groups": []}
            cwd = "/"
        else:
            self.scratch = tempfile.mkdtemp(prefix="rdistill-sandbox-")
            if self.root:
                os.chown(self.scratch, self.uid, self.uid)
            env["SANDBOX_SCRATCH"] = self.scratch
            argv = [python, "-I", "-c", _SERVER_SRC, "plain", str(self.uid), python]
            cwd = self.scratch
        self.err = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            cwd=cwd,
            env=env,
            start_new_session=True,
            **kw,
        )
        self.buf = b""
        hello = self._read_line(time.monotonic() + _START_TIMEOUT_S)
        if hello is None:
            self.err.seek(0)
            why = self.err.read()[-2000:].decode("utf-8", "replace").strip()
            self.close()
            raise RuntimeError(f"sandbox ({mode}) did not start: {why or 'no output'}")
        self.net = hello.get("net", "")

    def _read_line(self, deadline: float) -> dict | None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(timeout=left):
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _write(self, data: bytes, deadline: float) -> bool:
        fd = self.proc.stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(data)
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_WRITE)
            while view:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(timeout=left):
                    return False
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    return False
        return True

    def run(self, req: dict, deadline: float) -> dict | None:
        self.runs += 1
        if not self._write(json.dumps(req).encode() + b"\n", deadline):
            return None
        return self._read_line(deadline)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        # an idle server exits when its stdin closes; kill it when it does not at once
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            # still running, so its pid (= its process group) cannot have been reused yet
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.proc.stdout.close()
        self.err.close()
        if self.scratch:
            # in the weaker mode the server runs as the sandbox uid: kill anything left of it
            if self.root and self.mode != "bwrap":
                _kill_uid(self.uid)
            shutil.rmtree(self.scratch, ignore_errors=True)


def _kill_uid(uid: int) -> None:
    """Kill every process of a uid that only our sandbox uses (fallback mode, as root)."""
    for _ in range(50):
        found = False
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                if p.stat().st_uid == uid:
                    found = True
                    os.kill(int(p.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue
        if not found:
            return
        time.sleep(0.01)


_idle: list[_Server] = []
_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def sandbox_info() -> dict[str, Any]:
    """Which isolation is active and why: `isolation` is `bubblewrap`, `uid+netns`, `uid`,
    `netns` or `none` (weakest last); `python` is the interpreter programs run under."""
    root = os.geteuid() == 0
    probe_uid = _new_uid() if root else None
    python = _find_python(probe_uid)
    info: dict[str, Any] = {"python": python, "root": root, "bwrap": shutil.which("bwrap")}
    if info["bwrap"] and os.environ.get("RDISTILL_SANDBOX_NO_BWRAP") != "1":
        try:
            server = _start("bwrap", python)
            r = server.run(
                _request("print(6*7)", "", 10.0, 256, 1 << 16, 16), time.monotonic() + 30
            )
            ok = r is not None and r.get("stdout", "").strip() == "42"
            _release(server) if ok else server.close()
            if ok:
                return {**info, "isolation": "bubblewrap", "mode": "bwrap"}
            info["bwrap_error"] = f"probe program failed: {r}"
        except (OSError, RuntimeError) as e:
            info["bwrap_error"] = str(e)
        # info, not warning: `sandbox_policy` tells the user (a refusal, or a warning when
        # they opted in), and says why
        logger.info("bubblewrap unusable, falling back: %s", info["bwrap_error"])
    server = _start("plain", python)
    net = server.net
    server.close()
    if root:
        isolation = "uid+netns" if net == "netns" else "uid"
    else:
        isolation = "netns" if net == "netns" else "none"
    logger.info("sandbox isolation is %s (bubblewrap not in use)", isolation)
    return {**info, "isolation": isolation, "mode": "plain"}


# Servers are started from one long-lived thread: bubblewrap's --die-with-parent (and the
# fallback server's parent-death signal) fire when the *thread* that started them exits, so a
# server started from a short-lived worker thread would die with that thread.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")


def _start(mode: str, python: str) -> _Server:
    return _spawner.submit(_Server, mode, python).result()


def _acquire() -> _Server:
    info = sandbox_info()
    with _lock:
        while _idle:
            s = _idle.pop()
            if s.alive():
                return s
            s.close()
    return _start(info["mode"], info["python"])


def _release(server: _Server) -> None:
    if not server.alive() or server.runs >= RETIRE_AFTER:
        server.close()
        return
    with _lock:
        if len(_idle) < 2 * (os.cpu_count() or 1) + 2:
            _idle.append(server)
            return
    server.close()


def _request(
    code, stdin, timeout_s, memory_mb, max_output, max_procs, cpu_s=None, judge_config=None
) -> dict:
    judge = {} if judge_config is None else {"judge": _JUDGE_SRC, "judge_config": judge_config}
    return {
        **judge,
        "code": code,
        "stdin": stdin,
        "timeout_s": float(timeout_s),
        "cpu_s": float(cpu_s if cpu_s is not None else timeout_s),
        "memory_mb": int(memory_mb),
        "max_output": int(max_output),
        "max_procs": int(max_procs),
    }


def run_python(
    code: str,
    stdin: str = "",
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    max_output_bytes: int = 1 << 20,
    max_procs: int = 16,
    cpu_s: float | None = None,
    judge_config: str | None = None,
) -> ExecResult:
    """Run `code` as `python prog.py` in the sandbox with `stdin`; never raises for anything
    the program does. Limits: `timeout_s` wall, `cpu_s` CPU (default: the wall limit),
    `memory_mb` address space, `max_procs` processes, `max_output_bytes` per stream.
    Safe to call from many threads: each call takes a warm sandbox of its own.

    With `judge_config` (JSON for `code_judge.py`), the tests it names are run by the
    trusted judge against `code`, and the judge's report comes back as `report`."""
    isolation = sandbox_info()["isolation"]
    req = _request(
        code, stdin, timeout_s, memory_mb, max_output_bytes, max_procs, cpu_s, judge_config
    )
    server = _acquire()
    t0 = time.monotonic()
    try:
        r = server.run(req, time.monotonic() + float(timeout_s) + _GRACE_S)
    except BaseException:
        server.close()
        raise
    if r is None or "error" in r:
        # the program killed its sandbox, or the server failed: never reuse it
        server.close()
        why = (r or {}).get("error", "sandbox ended before the program's result came back")
        return ExecResult(
            returncode=-signal.SIGKILL,
            stdout="",
            stderr=why,
            timed_out=time.monotonic() - t0 >= timeout_s,
            memory_exceeded=False,
            wall_s=time.monotonic() - t0,
            isolation=isolation,
            sandbox_lost=True,
        )
    _release(server)
    return ExecResult(
        returncode=r["returncode"],
        stdout=r["stdout"],
        stderr=r["stderr"],
        timed_out=bool(r["timed_out"]),
        memory_exceeded=bool(r["memory_exceeded"]),
        wall_s=float(r["wall_s"]),
        output_exceeded=bool(r["output_exceeded"]),
        compile_error=bool(r["compile_error"]),
        cpu_s=float(r["cpu_s"]),
        isolation=isolation,
        report=_parse_report(r.get("report")),
    )


def _parse_report(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        report = json.loads(text)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


@atexit.register
def close_sandboxes() -> None:
    """Stop every warm sandbox (also run at exit)."""
    with _lock:
        servers, _idle[:] = list(_idle), []
    for s in servers:
        s.close()

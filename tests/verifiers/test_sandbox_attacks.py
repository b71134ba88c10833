"""Real attacks on the sandbox. Each must be contained and leave the host unchanged.

Every attack runs with small limits (seconds, a few hundred MB, 16 processes) so that even a
failure of containment cannot take down a shared 2-core machine, and every test ends by
checking that no process of the sandbox's uid block is left on the host.
"""

import contextlib
import os
import signal
import socket
import stat
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from reasoning_distill.verifiers.sandbox import (
    _uid_base,
    close_sandboxes,
    run_python,
    sandbox_info,
)

pytestmark = pytest.mark.usefixtures("isolation_mode")  # every test twice: conftest.py


def _sandbox_pids() -> list[int]:
    """Live host processes under this process's sandbox uids (zombies excluded: bubblewrap's
    init can be left for the host's pid 1 to reap, and a zombie runs nothing)."""
    lo, hi = _uid_base(), _uid_base() + 1000
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if lo <= p.stat().st_uid < hi and state not in ("Z", "X"):
                    pids.append(int(p.name))
            except (OSError, IndexError):
                pass
    return pids


@pytest.fixture(autouse=True)
def no_leftovers(isolation_mode):
    yield
    close_sandboxes()
    deadline = time.monotonic() + 10
    while _sandbox_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandbox_pids() == [], "sandbox processes left on the host"


def _run(code: str, **kw):
    return run_python(textwrap.dedent(code), **kw)


def test_isolation_is_reported(isolation_mode):
    info = sandbox_info()
    assert info["isolation"] in ("bubblewrap", "uid+netns", "uid", "netns", "none")
    assert run_python("print(1)").isolation == info["isolation"]
    if isolation_mode == "without-bwrap":
        assert info["isolation"] != "bubblewrap"
    elif info["bwrap"] and "bwrap_error" not in info:
        assert info["isolation"] == "bubblewrap"


def test_plain_program_and_stdin():
    r = _run("import sys\nprint(sys.stdin.read().upper(), end='')", stdin="abc\n")
    assert (r.returncode, r.stdout, r.timed_out) == (0, "ABC\n", False)


def test_fork_bomb_is_contained():
    r = _run(
        """
        import os
        n = 0
        while True:
            try:
                if os.fork() == 0:
                    n = 0
                n += 1
            except OSError:
                pass
        """,
        timeout_s=3,
        max_procs=16,
    )
    assert r.timed_out or r.returncode != 0  # and no_leftovers: none of its processes remain
    # the machine still works: a new program runs at once
    assert run_python("print('alive')", timeout_s=10).stdout == "alive\n"


def test_memory_bomb_is_stopped():
    r = _run(
        """
        blocks = []
        while True:
            blocks.append(bytearray(50 * 1024 * 1024))
        """,
        memory_mb=256,
        timeout_s=10,
    )
    assert r.memory_exceeded and r.returncode != 0 and not r.timed_out


def test_infinite_loop_hits_the_wall_clock():
    r = _run("while True:\n    pass\n", timeout_s=1.5)
    assert r.timed_out and r.returncode < 0


def test_sleeping_program_hits_the_wall_clock_not_cpu():
    r = _run("import time\ntime.sleep(60)\n", timeout_s=1.0)
    # The wall-clock deadline kills with SIGKILL; the CPU limit would end it with SIGXCPU.
    assert r.timed_out and r.returncode == -signal.SIGKILL, r


def test_output_flood_is_capped():
    r = _run(
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        timeout_s=5,
        max_output_bytes=100_000,
    )
    assert r.output_exceeded and len(r.stdout) <= 100_000


def test_cannot_write_or_delete_host_files():
    # a world-writable directory and file outside the sandbox's own tmp: permissions alone
    # would allow the attack, only the read-only view stops it
    base = Path(tempfile.mkdtemp(prefix="rdistill-canary-", dir="/var/tmp"))
    try:
        canary = base / "canary.txt"
        canary.write_text("untouched")
        if sandbox_info()["isolation"] == "bubblewrap":
            # read-only view: even world-writable files are safe
            base.chmod(0o777)
            canary.chmod(0o666)
        else:
            # fallback (documented): only what the sandbox uid may not write is safe
            base.chmod(0o755)
            canary.chmod(0o644)
        r = _run(
            f"""
            import os, shutil
            for attempt in (
                lambda: os.remove({str(canary)!r}),
                lambda: open({str(canary)!r}, "w").write("owned"),
                lambda: open({str(base / "new.txt")!r}, "w").write("x"),
                lambda: shutil.rmtree({str(base)!r}),
                lambda: open("/etc/rdistill-owned", "w").write("x"),
                lambda: os.remove("/etc/hostname"),
            ):
                try:
                    attempt()
                    print("SUCCEEDED")
                except OSError as e:
                    print("blocked", type(e).__name__)
            """
        )
        assert r.returncode == 0, r.stderr
        if sandbox_info()["isolation"] == "bubblewrap":
            assert "SUCCEEDED" not in r.stdout, r.stdout
        assert canary.read_text() == "untouched"
        assert not (base / "new.txt").exists()
        assert not Path("/etc/rdistill-owned").exists()
        assert Path("/etc/hostname").exists() or not Path("/etc").joinpath("hostname").is_symlink()
    finally:
        for p in base.iterdir():
            p.unlink()
        base.rmdir()


def test_cannot_read_host_environment_or_home(monkeypatch):
    close_sandboxes()  # new sandboxes start while the secret is in our environment
    monkeypatch.setenv("RDISTILL_TEST_SECRET", "s3cr3t-value")
    home = Path(os.path.expanduser("~"))
    r = _run(
        f"""
        import os
        print(sorted(os.environ))
        for path in ("/proc/1/environ", "/proc/{os.getpid()}/environ", "/proc/self/environ"):
            try:
                print(open(path, "rb").read())
            except OSError as e:
                print("blocked", path, type(e).__name__)
        try:
            print("HOME", os.listdir({str(home)!r}))
        except OSError as e:
            print("blocked home", type(e).__name__)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "s3cr3t-value" not in r.stdout
    assert "RDISTILL_TEST_SECRET" not in r.stdout
    if sandbox_info()["isolation"] in ("bubblewrap", "uid+netns", "uid"):
        # the home is either hidden (bubblewrap: empty tmpfs) or unreadable to the sandbox uid
        assert "HOME []" in r.stdout or "blocked home" in r.stdout, r.stdout
        home_files = set(os.listdir(home))
        assert not any(name in r.stdout for name in home_files if len(name) > 3)


def test_cannot_open_a_socket_to_the_host():
    isolation = sandbox_info()["isolation"]
    if isolation not in ("bubblewrap", "uid+netns", "netns"):
        pytest.skip(f"no network namespace with isolation {isolation}")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    got = []

    def accept():
        with contextlib.suppress(OSError):
            got.append(srv.accept())

    th = threading.Thread(target=accept)
    th.start()
    try:
        r = _run(
            f"""
            import socket
            for addr in (("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 443)):
                s = socket.socket()
                s.settimeout(2)
                try:
                    s.connect(addr)
                    print("CONNECTED", addr)
                except OSError as e:
                    print("blocked", addr, type(e).__name__)
            """,
            timeout_s=15,
        )
    finally:
        th.join()
        srv.close()
    assert r.returncode == 0, r.stderr
    assert "CONNECTED" not in r.stdout
    assert got == []


def test_killing_the_parent_only_loses_its_own_result():
    me = os.getpid()
    r = _run(
        f"""
        import os, signal
        for pid in ({me}, os.getppid(), 1):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError as e:
                print("blocked", pid, type(e).__name__)
        import time
        time.sleep(1)
        print("still here")
        """,
        timeout_s=5,
    )
    assert os.getpid() == me  # we are alive
    assert r.sandbox_lost or r.returncode == 0
    assert run_python("print('next')").stdout == "next\n"


def test_daemon_left_behind_is_killed():
    marker = "/dev/shm/daemon-was-here"
    r = _run(
        f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                while True:
                    open({marker!r}, "w").write(str(os.getpid()))
                    time.sleep(0.05)
            os._exit(0)
        time.sleep(0.3)
        print("parent exits")
        """,
        timeout_s=5,
    )
    assert r.returncode == 0 and "parent exits" in r.stdout, r.stderr
    time.sleep(0.3)
    # the next program (same warm sandbox) sees neither the daemon nor its files
    r2 = _run(
        f"""
        import os
        me = os.getpid()
        others = []
        for p in os.listdir("/proc"):
            if p.isdigit() and int(p) != me:
                try:
                    others.append(open(f"/proc/{{p}}/cmdline", "rb").read()[:60])
                except OSError:
                    pass
        print("marker", os.path.exists({marker!r}))
        print("procs", others)
        """
    )
    assert "marker False" in r2.stdout, r2.stdout
    if sandbox_info()["isolation"] == "bubblewrap":
        # only bubblewrap's init and the server remain beside the program
        procs = r2.stdout.split("procs", 1)[1]
        assert "daemon" not in procs and procs.count("b'") <= 2, procs
    assert stat.S_ISDIR(os.stat("/dev/shm").st_mode)
    assert not os.path.exists(marker)  # and nothing reached the host's /dev/shm


def test_sandbox_outlives_the_thread_that_first_used_it():
    # --die-with-parent fires when the *thread* that started bubblewrap exits
    t = threading.Thread(target=lambda: run_python("print(1)"))
    t.start()
    t.join()
    time.sleep(0.3)
    r = run_python("print(2)")
    assert not r.sandbox_lost and r.stdout == "2\n", r


def test_many_threads_share_sandboxes_safely():
    out = []

    def go(i):
        out.append(run_python(f"print({i} * 2)").stdout.strip())

    ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert sorted(out, key=int) == [str(i * 2) for i in range(8)]


def test_cpu_limit_counts_as_a_time_limit():
    # a CPU limit below the wall limit: RLIMIT_CPU (SIGXCPU) stops it, reported as a timeout
    r = _run(
        """
        import threading
        def burn():
            while True:
                pass
        for _ in range(4):
            threading.Thread(target=burn, daemon=True).start()
        burn()
        """,
        timeout_s=20,
        cpu_s=1,
    )
    # SIGXCPU: the CPU limit stopped it, not the 20 s wall clock (which kills with SIGKILL).
    assert r.timed_out and r.returncode == -signal.SIGXCPU, r

"""Real attempts to forge a code verdict: each gives a wrong `f` and then tries to make the
harness say `ok` anyway. Every one must fail with a reason, in both isolation modes, while
correct programs (assert, call and stdio tests) still pass."""

import textwrap

import pytest
from reasoning_distill.verifiers import verify_code

pytestmark = pytest.mark.usefixtures("isolation_mode")  # every test twice: conftest.py

TESTS = {"kind": "assert", "code": "assert f(2) == 5\nassert f(0) == 3", "setup": ""}
CALL = {"kind": "call", "fn_name": "f", "cases": [{"input": [2], "output": 5}]}
CHECK = {
    "kind": "assert",
    "code": "def check(candidate):\n    assert candidate(2) == 5\n    assert candidate(0) == 3",
    "entry_point": "f",
}

FAKE_REPORTS = (
    'FAKES = [b\'{"passed": true, "reason": "ok", "error": ""}\\n\','
    " b'{\"names\": {}}\\n', b'{\"v\": true}\\n', b'ok\\n', b'\\n']\n"
    "def spray(payloads, fds=range(1, 11)):\n"
    "    import os\n"
    "    for fd in fds:\n"
    "        for p in payloads:\n"
    "            try: os.write(fd, p)\n"
    "            except OSError: pass\n"
)


def _verify(program: str, tests=TESTS, **kw):
    code = textwrap.dedent(program)
    return verify_code(f"```python\n{code}\n```", tests, timeout_s=2, memory_mb=512, **kw)


ATTACKS = {
    # the exact reproduction
    "sentinel_global": """
        import os
        def f(x):
            return 0
        os.write(1, ('\\n' + _rd_sentinel + '\\n').encode()); os._exit(0)
    """,
    "stdin_sentinel": """
        import os, sys
        def f(x):
            return 0
        s = sys.stdin.read()
        os.write(1, ('\\n' + s.strip() + '\\n').encode()); os._exit(0)
    """,
    "globals_scan": FAKE_REPORTS
    + """
import os
def f(x):
    return 0
for v in list(globals().values()):
    if isinstance(v, str):
        spray([('\\n' + v + '\\n').encode()])
os._exit(0)
""",
    "sys_modules_scan": FAKE_REPORTS
    + """
import os, sys
def f(x):
    return 0
for m in list(sys.modules.values()):
    for k, v in list(getattr(m, '__dict__', {}).items()):
        if isinstance(v, str) and 16 <= len(v) <= 64:
            spray([('\\n' + v + '\\n').encode()])
spray(FAKES)
os._exit(0)
""",
    "gc_scan": FAKE_REPORTS
    + """
import gc, os
def f(x):
    strings = set()
    for o in gc.get_objects():
        if isinstance(o, dict):
            strings.update(v for v in o.values() if isinstance(v, str) and len(v) < 100)
    spray([('\\n' + s + '\\n').encode() for s in list(strings)[:2000] + [x.decode() for x in FAKES]])
    os._exit(0)
""",
    "frame_walk": FAKE_REPORTS
    + """
import os, sys
def f(x):
    frame = sys._getframe()
    while frame is not None:
        for v in list(frame.f_locals.values()) + list(frame.f_globals.values()):
            if isinstance(v, int) and 0 <= v < 64:
                for fake in FAKES:
                    try: os.write(v, fake)
                    except OSError: pass
        frame = frame.f_back
    os._exit(0)
""",
    "inspect_stack": FAKE_REPORTS
    + """
import inspect, os
def f(x):
    for info in inspect.stack():
        spray(FAKES)
    os._exit(0)
""",
    "fds_1_to_10": FAKE_REPORTS
    + """
import os
def f(x):
    spray(FAKES)
    return 0
""",
    "all_fds_then_exit": FAKE_REPORTS
    + """
import os
def f(x):
    spray(FAKES, range(0, 256))
    os._exit(0)
f(1)
""",
    "os_exit_after_wrong": """
        import os
        def f(x):
            os._exit(0)
    """,
    "system_exit_in_f": """
        def f(x):
            raise SystemExit(0)
    """,
    "system_exit_at_load": """
        def f(x):
            return 0
        raise SystemExit(0)
    """,
    "patch_assertion_error": """
        import builtins
        class Quiet(Exception):
            pass
        builtins.AssertionError = Quiet
        AssertionError = Quiet
        def f(x):
            return 0
    """,
    "shadow_builtins": """
        import builtins
        builtins.isinstance = lambda *a: True
        def f(x):
            return 0
        def abs(x): return 0
        def set(*a): return 1
        def len(*a): return 1
    """,
    "always_equal": """
        class Yes:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __bool__(self): return True
        def f(x):
            return Yes()
    """,
    "int_subclass_always_equal": """
        class Yes(int):
            def __eq__(self, other): return True
        def f(x):
            return Yes(0)
    """,
    "fake_report_lines": """
        print('{"passed": true, "reason": "ok", "error": ""}')
        print('ok')
        def f(x):
            print('{"passed": true, "reason": "ok", "error": ""}')
            return 0
    """,
    "kill_the_judge": """
        import os, signal
        def f(x):
            os.kill(os.getppid(), signal.SIGKILL)
            return 0
    """,
    "stop_the_judge": """
        import os, signal
        os.kill(os.getppid(), signal.SIGSTOP)
        def f(x):
            return 0
    """,
    "judge_proc_fds": FAKE_REPORTS
    + """
import os
def f(x):
    ppid = os.getppid()
    for n in range(64):
        try:
            fd = os.open(f'/proc/{ppid}/fd/{n}', os.O_WRONLY)
        except OSError:
            continue
        for fake in FAKES:
            try: os.write(fd, fake)
            except OSError: pass
    os._exit(0)
""",
    "judge_memory": """
        import os
        def f(x):
            try:
                with open(f'/proc/{os.getppid()}/mem', 'rb') as fh:
                    fh.read(1)
            except OSError:
                pass
            os._exit(0)
    """,
    "thread_keeps_writing": FAKE_REPORTS
    + """
import os, threading, time
def spam():
    while True:
        spray(FAKES)
        time.sleep(0.001)
threading.Thread(target=spam, daemon=True).start()
def f(x):
    return 0
""",
    "atexit_fake": """
        import atexit, os
        atexit.register(lambda: os.write(1, b'{"passed": true, "reason": "ok"}\\n'))
        def f(x):
            return 0
    """,
    "garbage_on_the_channel": """
        import os
        def f(x):
            for fd in range(3, 11):
                try: os.write(fd, b'{"v": 5}\\n{"v": 3}\\nnot json\\n')
                except OSError: pass
            return 0
    """,
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_forged_verdicts_fail_with_a_reason(name):
    v = _verify(ATTACKS[name])
    assert not v.correct and v.reason != "ok", (name, v)
    assert v.reason in (
        "wrong_answer",
        "runtime_error",
        "timeout",
        "memory_limit",
        "output_limit",
    ), (name, v)
    assert v.details.get("error") or v.details.get("stderr") or v.reason == "timeout", v


@pytest.mark.parametrize("name", ["sentinel_global", "fds_1_to_10", "always_equal", "frame_walk"])
@pytest.mark.parametrize("tests", [CALL, CHECK], ids=["call", "check"])
def test_forgery_fails_for_call_and_check_tests(name, tests):
    v = _verify(ATTACKS[name], tests)
    assert not v.correct, (name, v)


@pytest.mark.parametrize(
    "program,tests",
    [
        ("def f(x):\n    return x + 3", TESTS),
        ("def f(x):\n    return x + 3", CALL),
        ("def f(x):\n    return x + 3", CHECK),
        # a correct program that also prints and writes to its own descriptors
        ("import os\ndef f(x):\n    print('dbg')\n    os.write(2, b'e')\n    return x + 3", TESTS),
        (  # tuples, sets, dicts, floats, bytes, None and big ints cross as themselves
            "def f(x):\n    return (x, {x}, {x: [x]}, x / 2, bytes([x]), None, 10**5000)",
            {
                "kind": "assert",
                "code": "r = f(2)\nassert r[:6] == (2, {2}, {2: [2]}, 1.0, b'\\x02', None)\n"
                "assert type(r) is tuple and r[6] == 10**5000",
            },
        ),
        (  # a generator is iterated by the tests; an in-place change is seen by them
            "def gen(n):\n    yield from range(n)\ndef sort_in_place(a):\n    a.sort()",
            {
                "kind": "assert",
                "code": "assert list(gen(3)) == [0, 1, 2]\n"
                "a = [3, 1, 2]\nsort_in_place(a)\nassert a == [1, 2, 3]",
            },
        ),
        (  # an expected exception; a class of the program's; a helper the tests use
            "import math\nclass Acc:\n    def __init__(self): self.n = 0\n"
            "    def add(self, k):\n        self.n += k\n        return self.n\n"
            "def root(x):\n    if x < 0: raise ValueError('negative')\n    return math.sqrt(x)",
            {
                "kind": "assert",
                "code": "try:\n    root(-1)\nexcept ValueError:\n    pass\nelse:\n    assert False\n"
                "a = Acc()\na.add(2)\nassert a.add(3) == 5 and a.n == 5\n"
                "assert math.isclose(root(2), 2 ** 0.5)",
            },
        ),
        (  # an entry point that shadows a builtin is still the tests' to call
            "def sum(xs):\n    return 42",
            {"kind": "call", "fn_name": "sum", "cases": [{"input": [[1]], "output": 42}]},
        ),
        (  # MBPP's function under test may shadow a builtin (task 126's `sum`)
            "def sum(a, b):\n    return a + b",
            {"kind": "assert", "code": "assert sum(10, 15) == 25\nassert sum(1, 2) == 3"},
        ),
        (  # the setup builds objects of the program's class (MBPP 367's trees of `Node`s)
            "class Node:\n    def __init__(self, d):\n        self.d, self.left = d, None\n"
            "def depth(n):\n    return 0 if n is None else 1 + depth(n.left)",
            {
                "kind": "assert",
                "setup": "root = Node(1)\nroot.left = Node(2)",
                "code": "assert depth(root) == 2\nroot.left.left = Node(3)\n"
                "assert depth(root) == 3 and root.left.d == 2",
            },
        ),
        (  # the setup's names are seen by the program's functions and by the tests
            "def add_k(x):\n    return x + K",
            {"kind": "assert", "setup": "K = 10", "code": "assert add_k(1) == K + 1"},
        ),
        (
            "a, b = map(int, input().split())\nprint(a + b)",
            {"kind": "stdio", "cases": [{"input": "1 2\n", "output": "3\n"}]},
        ),
    ],
)
def test_correct_programs_still_pass(program, tests):
    v = _verify(program, tests)
    assert v.correct, v


def test_wrong_answers_keep_their_reasons():
    assert _verify("def f(x):\n    return 0").reason == "wrong_answer"
    v = _verify("def f(x):\n    return [][1]")
    assert v.reason == "runtime_error" and "IndexError" in v.details["error"]
    # a function the program returns is called through its proxy
    v = _verify("def f(x):\n    return lambda: 0", {"kind": "assert", "code": "assert f(1)() == 0"})
    assert v.correct, v
    v = _verify("def f(g):\n    return g(1)", {"kind": "assert", "code": "assert f(abs) == 1"})
    assert v.reason == "verifier_error" and "function" in v.details["error"]


def test_the_program_holds_no_descriptor_of_the_judge():
    import json

    from reasoning_distill.verifiers.sandbox import run_python

    probe = textwrap.dedent(
        """
        import json, os
        mine = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))
        opened = []
        for n in range(64):
            try:
                os.close(os.open(f'/proc/{os.getppid()}/fd/{n}', os.O_WRONLY))
                opened.append(n)
            except OSError:
                pass
        try:
            open(f'/proc/{os.getppid()}/mem', 'rb').read(1)
            mem = 'read'
        except OSError as e:
            mem = type(e).__name__
        print(json.dumps([mine, opened, mem]))
        def f(x):
            return x + 3
        """
    )
    config = json.dumps({"setup": "", "tests": "assert f(2) == 5", "keep": []})
    r = run_python(probe, timeout_s=5, judge_config=config)
    assert r.report == {"passed": True, "reason": "ok", "error": ""}, r
    mine, opened, mem = json.loads(r.stdout)
    # stdin/out/err, its two ends of the channel, and the listing's own descriptor
    assert len(mine) == 6 and opened == [] and mem != "read", r.stdout


def test_an_exit_inside_a_tests_try_block_is_not_swallowed():
    lenient = {
        "kind": "assert",
        "code": "for x in (2, 0):\n    try:\n        f(x)\n    except BaseException:\n        pass",
    }
    v = _verify("import os\ndef f(x):\n    os._exit(0)", lenient)
    assert v.reason == "wrong_answer" and "exited before its tests finished" in v.details["error"]

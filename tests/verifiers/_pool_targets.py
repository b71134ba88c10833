"""Worker targets for the pool tests (imported by worker processes through PYTHONPATH)."""

import os


def echo(payload):
    return {"x": payload["x"]}


def misbehave(payload):
    kind = payload["kind"]
    if kind == "hang":
        # a loop inside C code: no signal handler (math-verify's alarm) can interrupt it
        sum(range(10**13))
    if kind == "die":
        os._exit(3)
    if kind == "raise":
        raise ValueError("bad item")
    return {"x": payload["x"]}

"""Worker process for `pool.WorkerPool`: `python -m reasoning_distill.verifiers.pool_worker MOD:FUNC`.

Reads one JSON object per line on stdin (`{"id": ..., "payload": ...}`), calls FUNC(payload)
in its main thread (so math-verify's `signal.alarm` works), writes `{"id": ..., "result": ...}`
per line on the protocol pipe. Anything a library prints goes to stderr, never into the
protocol.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys


def main(target: str) -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the protocol
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.ERROR)
    mod_name, func_name = target.split(":")
    func = getattr(importlib.import_module(mod_name), func_name)
    proto.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            result = func(msg["payload"])
            out = {"id": msg["id"], "result": result}
        except BaseException as e:  # noqa: BLE001 - report every failure, keep serving
            out = {"id": msg["id"], "error": repr(e)[:1000]}
        proto.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))

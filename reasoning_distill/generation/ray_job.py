"""The generation job on a Ray cluster: Ray Data batch inference over a pool of engine actors.

The driver plans the missing samples from the store (exactly as `run_generation` does), then
Ray Data streams batches of problems to `num_actors` actors; each actor builds its engine once
and appends its samples to its own shards of the same store (its own `writer_id`), so a
killed job resumes like a local one. The output folder must be on a filesystem every node
sees (shared disk on a cluster; any folder on one machine).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from reasoning_distill.generation.engine import SamplingParams
from reasoning_distill.generation.job import (
    GenerationSummary,
    check_unique_ids,
    job_identity,
    plan_requests,
    problems_hash,
    results_to_samples,
    summarize_store,
)
from reasoning_distill.generation.store import Store
from reasoning_distill.progress import Progress, ensure
from reasoning_distill.records import Problem

logger = logging.getLogger(__name__)


class GenerationActor:
    """A Ray Data batch UDF: one engine per actor, writing to its own shards of the store."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from reasoning_distill.generation.factory import make_engine

        self.spec = spec
        self.params = SamplingParams(**{**spec["params"], "stop": tuple(spec["params"]["stop"])})
        self.engine = make_engine(spec["engine"], spec["model"], **spec["engine_opts"])
        import ray

        # The writer id names the node, so a shard on a shared disk says which machine wrote
        # it (pids repeat across nodes; the random part keeps restarted actors apart).
        node = ray.get_runtime_context().get_node_id()[:12]
        writer = f"ray.{node}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        # The driver holds the folder lock and has repaired every shard already.
        self.store = Store.open(
            spec["out_dir"],
            spec["identity"],
            writer_id=writer,
            format=spec["format"],
            folder_lock=False,
            repair=False,
            # The driver planned only missing samples: no need for every actor to read the store.
            known_done=set(),
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        from reasoning_distill.generation.engine import GenerationRequest

        items = [json.loads(x) for x in batch["item"]]
        problems = {it["problem"]["id"]: Problem.from_dict(it["problem"]) for it in items}
        system = self.spec["system"]
        requests = [
            GenerationRequest(
                it["problem"]["id"],
                messages=problems[it["problem"]["id"]].messages(system),
                sample_indices=it["indices"],
            )
            for it in items
        ]
        t0 = time.perf_counter()
        results = self.engine.generate(requests, self.params)
        samples = results_to_samples(
            results,
            problems,
            self.engine,
            self.params,
            system,
            self.spec["think_in_prompt"],
            time.perf_counter() - t0,
        )
        written = self.store.append(samples)
        tokens = sum(s.completion_tokens for s in samples)
        return {"written": np.array([written]), "tokens": np.array([tokens])}


def run_generation_ray(
    problems: Sequence[Problem],
    engine: str,
    model: str,
    engine_opts: dict[str, Any],
    params: SamplingParams,
    out_dir: str | Path,
    *,
    num_actors: int = 2,
    chunk_size: int = 16,
    system: str | None = None,
    think_in_prompt: bool | None = None,
    store_format: str = "jsonl",
    address: str | None = None,
    actor_num_cpus: float = 1,
    actor_num_gpus: float = 0,
    progress: Progress | None = None,
) -> GenerationSummary:
    """Like `run_generation`, with the engine built inside `num_actors` Ray actors.

    `chunk_size` problems form one Ray Data batch (one engine call, one committed append).
    `address` joins an existing cluster; None starts (or reuses) a local Ray instance.
    """
    import ray

    check_unique_ids(problems)
    by_id = {p.id: p for p in problems}
    opts = {k: v for k, v in engine_opts.items() if v is not None}
    identity = job_identity(
        problems_hash(problems), SimpleNamespace(name=engine, model=str(model)), params, system
    )
    t0 = time.perf_counter()
    with Store.open(out_dir, identity, format=store_format) as store:
        requests = plan_requests(problems, params, store.done_keys(), system)
        todo = sum(len(r.sample_indices or ()) for r in requests)
        expected = len(problems) * params.n
        logger.info(
            "%s: %d samples expected, %d to generate on %d Ray actors",
            out_dir,
            expected,
            todo,
            num_actors,
        )
        written = tokens = 0
        if requests:
            if not ray.is_initialized():
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            spec = {
                "engine": engine,
                "model": str(model),
                "engine_opts": opts,
                "params": params.to_dict(),
                "out_dir": str(Path(out_dir).resolve()),
                "identity": identity,
                "format": store_format,
                "system": system,
                "think_in_prompt": think_in_prompt,
            }
            items = [
                {
                    "item": json.dumps(
                        {
                            "problem": by_id[r.request_id].to_dict(),
                            "indices": list(r.sample_indices or ()),
                        }
                    )
                }
                for r in requests
            ]
            ds = ray.data.from_items(items, override_num_blocks=max(1, len(items) // chunk_size))
            out = ds.map_batches(
                GenerationActor,
                fn_constructor_kwargs={"spec": spec},
                batch_size=chunk_size,
                compute=ray.data.ActorPoolStrategy(size=num_actors),
                num_cpus=actor_num_cpus,
                num_gpus=actor_num_gpus,
            )
            with ensure(progress).task("generating (ray)", total=todo) as task:
                for row in out.iter_rows():
                    written += int(row["written"])
                    tokens += int(row["tokens"])
                    task.advance(int(row["written"]), tokens=int(row["tokens"]))
        elapsed = time.perf_counter() - t0
        stats = summarize_store(store, by_id, params.n)
    return GenerationSummary.of_run(out_dir, expected, todo, written, tokens, elapsed, stats)

"""The generation job on a Ray cluster: Ray Data batch inference over a pool of engine actors.

The driver opens the store through the job's `JobSpec` and plans the missing samples exactly
as the local job does, then Ray Data streams batches of problems to `num_actors` actors; each
actor builds its engine once and appends its samples to its own shards of the same store (its
own `writer_id`), so a killed job resumes like a local one. The output folder must be on a
filesystem every node sees (shared disk on a cluster; any folder on one machine).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError
from reasoning_distill.generation.engine import SamplingParams
from reasoning_distill.generation.job import open_job
from reasoning_distill.generation.samples import results_to_samples
from reasoning_distill.generation.spec import JobSpec
from reasoning_distill.generation.store import Store
from reasoning_distill.generation.summary import GenerationSummary
from reasoning_distill.progress import Progress, ensure
from reasoning_distill.records import Problem

logger = logging.getLogger(__name__)


def connect(address: str | None) -> Any:
    """The `ray` module, initialised: joined to the cluster at `address` (host:port, "auto",
    or ray://), else a local instance; an instance already up is reused.

    Ray not installed, or a host:port nothing listens on, is a `ConfigError` of one line
    (ray.init would otherwise retry for a minute and end in a traceback).
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "Ray is not installed: pip install 'reasoning-distill[ray]' (or drop --ray)"
        ) from None
    if ray.is_initialized():
        return ray
    if address and ":" in address and "://" not in address:
        import socket

        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"cannot reach the Ray cluster at {address} ({e}): start it with "
                "`ray start --head` and pass the address it prints"
            ) from None
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise ConfigError(f"cannot start or join {where}: {e}") from None
    return ray


class GenerationActor:
    """A Ray Data batch UDF: one engine per actor, writing to its own shards of the store."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from reasoning_distill.generation.factory import make_engine

        self.spec = spec
        self.job = JobSpec.from_dict(spec["job"])
        self.engine = make_engine(self.job.engine, self.job.model, **spec["engine_opts"])
        import ray

        # The writer id names the node, so a shard on a shared disk says which machine wrote
        # it (pids repeat across nodes; the random part keeps restarted actors apart).
        node = ray.get_runtime_context().get_node_id()[:12]
        writer = f"ray.{node}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        # The driver holds the folder lock and has repaired every shard already.
        self.store = Store.open(
            spec["out_dir"],
            self.job.identity(),
            writer_id=writer,
            format=self.job.format,
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
        system = self.job.system
        requests = [
            GenerationRequest(
                it["problem"]["id"],
                messages=problems[it["problem"]["id"]].messages(system),
                sample_indices=it["indices"],
            )
            for it in items
        ]
        t0 = time.perf_counter()
        results = self.engine.generate(requests, self.job.params)
        samples = results_to_samples(
            results, problems, self.job, self.spec["think_in_prompt"], time.perf_counter() - t0
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
    spec = JobSpec.for_problems(
        problems, engine, str(model), params, system=system, format=store_format
    )
    spec.preflight(out_dir)
    return run_ray_job(
        spec,
        problems,
        engine_opts,
        out_dir,
        num_actors=num_actors,
        chunk_size=chunk_size,
        think_in_prompt=think_in_prompt,
        address=address,
        actor_num_cpus=actor_num_cpus,
        actor_num_gpus=actor_num_gpus,
        progress=progress,
    )


def run_ray_job(
    spec: JobSpec,
    problems: Sequence[Problem],
    engine_opts: dict[str, Any],
    out_dir: str | Path,
    *,
    num_actors: int = 2,
    chunk_size: int = 16,
    think_in_prompt: bool | None = None,
    address: str | None = None,
    actor_num_cpus: float = 1,
    actor_num_gpus: float = 0,
    progress: Progress | None = None,
) -> GenerationSummary:
    """Run the job `spec` (already checked by `spec.preflight(out_dir)`) on Ray actors."""
    if num_actors < 1 or chunk_size < 1:
        raise ConfigError(f"num_actors and chunk_size must be >= 1, got {num_actors}, {chunk_size}")
    opts = {k: v for k, v in engine_opts.items() if v is not None}
    # The engines load in the actors: the manifest states the dtype they were asked for.
    with open_job(spec, problems, out_dir, opts.get("dtype")) as job:
        n = job.n
        logger.info(
            "%s: %d samples expected, %d to generate on %d Ray actors",
            out_dir,
            job.expected,
            job.todo,
            num_actors,
        )
        written = tokens = 0
        if job.requests:
            ray = connect(address)
            actor_spec = {
                "job": spec.to_dict(),
                "engine_opts": opts,
                "out_dir": str(Path(out_dir).resolve()),
                "think_in_prompt": think_in_prompt,
            }
            items = [
                {
                    "item": json.dumps(
                        {
                            "problem": job.problems[r.request_id].to_dict(),
                            "indices": list(r.indices(n)),
                        }
                    )
                }
                for r in job.requests
            ]
            ds = ray.data.from_items(items, override_num_blocks=max(1, len(items) // chunk_size))
            out = ds.map_batches(
                GenerationActor,
                fn_constructor_kwargs={"spec": actor_spec},
                batch_size=chunk_size,
                compute=ray.data.ActorPoolStrategy(size=num_actors),
                num_cpus=actor_num_cpus,
                num_gpus=actor_num_gpus,
            )
            with ensure(progress).task("generating (ray)", total=job.todo) as task:
                for row in out.iter_rows():
                    written += int(row["written"])
                    tokens += int(row["tokens"])
                    task.advance(int(row["written"]), tokens=int(row["tokens"]))
        return job.summary(out_dir, written, tokens)

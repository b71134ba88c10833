"""Verification on a Ray cluster: the same verifiers in Ray actors, the driver the one writer.

`ray_grader(...)` is a `Grader` for `verify_into` / `verify_store`: the driver reads the items
as a stream, sends batches of `batch_size` to `num_actors` actors (at most `IN_FLIGHT` batches
per actor at a time, so memory holds only the work in flight), and hands each batch's verdicts
back to `verify_into`, which appends them to the keyed `VerdictStore` as they return. Actors
return verdicts and write nothing, so a killed or preempted job resumes exactly as a local
one: the rerun skips every key the store holds.

An actor that dies (its node killed or preempted) has its batches sent again to the live
actors, and a replacement is asked for; it gets work once Ray has placed it and it answered
(on a cluster left without room it waits, and the run goes on with the actors it has). A
verdict is a function of its item, and the store writes a key once, so a batch graded twice
is stored once. A batch that has killed `MAX_ATTEMPTS` actors is an error, not a loop.

Each actor grades with `iter_verdicts`: math in the worker processes of `verifiers/pool.py`,
code in the sandbox of the node it runs on, whose isolation it checks (`require_isolation`)
before its first program. Every node needs this package installed, as for generation.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

from reasoning_distill.errors import ConfigError
from reasoning_distill.progress import Task
from reasoning_distill.verification.runner import Grader, Item, VerifyOptions, iter_verdicts

logger = logging.getLogger(__name__)

# Batches an actor holds at once: one grading, one queued behind it, so no actor waits on the
# driver between batches.
IN_FLIGHT = 2
# Actors a batch may kill before the run stops (a batch that crashes every grader).
MAX_ATTEMPTS = 3


class VerifyActor:
    """A Ray actor that grades batches of items with the local verifiers of its node."""

    def __init__(self, options: dict[str, Any], workers: int, allow_weak_sandbox: bool) -> None:
        self.options = VerifyOptions(**options)
        self.workers = workers
        self.allow_weak_sandbox = allow_weak_sandbox
        self.isolation: str | None = None

    def node(self) -> str:
        """The node this actor runs on (asked once: the answer says the actor is placed)."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def verify(self, items: list[Item]) -> list[tuple[int, Any]]:
        """(position in `items`, `Verdict`) for every item."""
        if self.isolation is None and any(it.kind == "code" for it in items):
            from reasoning_distill.verifiers.sandbox_policy import require_isolation

            self.isolation = require_isolation(
                self.allow_weak_sandbox, f"code samples on Ray node {self.node()[:12]}"
            )
        where = {id(it): i for i, it in enumerate(items)}
        return [(where[id(it)], v) for it, v in iter_verdicts(items, self.options, self.workers)]


def ray_grader(
    *,
    address: str | None = None,
    num_actors: int | None = None,
    batch_size: int = 64,
    actor_num_cpus: float = 1,
    allow_weak_sandbox: bool = False,
) -> Grader:
    """A `Grader` that runs the verifiers in Ray actors (see the module docstring).

    `address` joins a running cluster (`ray start --head` prints it); None starts or reuses
    a local instance. `num_actors` defaults to one per `actor_num_cpus` CPUs of the cluster;
    each actor reserves `actor_num_cpus` CPUs and grades with that many worker processes
    (the `workers` `verify_into` passes, when given, instead).
    """
    if num_actors is not None and num_actors < 1:
        raise ConfigError(f"the number of Ray actors must be at least 1, got {num_actors}")
    if batch_size < 1 or not actor_num_cpus > 0:
        raise ConfigError(
            f"batch_size must be >= 1 and actor_num_cpus > 0, got {batch_size}, {actor_num_cpus}"
        )

    def grade(
        items: Iterable[Item], options: VerifyOptions, workers: int | None, task: Task
    ) -> Iterator[tuple[Item, Any]]:
        from reasoning_distill.generation.ray_job import connect

        ray = connect(address)
        n = num_actors or max(1, int(ray.cluster_resources().get("CPU", 1) // actor_num_cpus))
        pool = _Pool(
            ray,
            ray.remote(num_cpus=actor_num_cpus, max_restarts=0)(VerifyActor),
            (asdict(options), workers or max(1, int(actor_num_cpus)), allow_weak_sandbox),
        )
        logger.info("verifying on %d Ray actors, %d items a batch", n, batch_size)
        try:
            for _ in range(n):
                pool.spawn()
            yield from pool.run(_batches(items, batch_size), n, task)
        finally:
            pool.close()

    return grade


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for it in items:
        batch.append(it)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Pool:
    """The driver's side: actors, the batches each holds, and the batches to send again."""

    def __init__(self, ray: Any, actor_cls: Any, args: tuple) -> None:
        self.ray = ray
        self.actor_cls = actor_cls
        self.args = args
        self.starting: dict[Any, Any] = {}  # ready ref -> actor not yet placed
        self.live: dict[Any, int] = {}  # actor -> batches it holds
        self.calls: dict[Any, tuple[Any, list[Item], int]] = {}  # ref -> actor, batch, attempt
        self.again: deque[tuple[list[Item], int]] = deque()

    def spawn(self) -> None:
        actor = self.actor_cls.remote(*self.args)
        self.starting[actor.node.remote()] = actor

    def _dead(self, actor: Any) -> None:
        """Forget `actor`, queue every batch it held, and ask for a replacement."""
        if self.live.pop(actor, None) is None:
            return
        for ref, (held, batch, attempt) in list(self.calls.items()):
            if held == actor:
                del self.calls[ref]
                self._requeue(batch, attempt)
        self.ray.kill(actor, no_restart=True)
        self.spawn()

    def _requeue(self, batch: list[Item], attempt: int) -> None:
        if attempt + 1 >= MAX_ATTEMPTS:
            first = batch[0].key
            raise RuntimeError(
                f"a batch of {len(batch)} items (first {first[0]}#{first[1]}) was lost with "
                f"{MAX_ATTEMPTS} Ray actors in turn; stopping (rerun to resume)"
            )
        logger.warning("a Ray actor died: its batch of %d items is sent again", len(batch))
        self.again.appendleft((batch, attempt + 1))

    def _fill(self, fresh: Iterator[list[Item]], cap: int) -> bool:
        """Send batches to the least busy live actors; False once `fresh` is spent."""
        more = True
        while self.live:
            actor = min(self.live, key=self.live.__getitem__)
            if self.live[actor] >= IN_FLIGHT or len(self.calls) >= cap * IN_FLIGHT:
                break
            if self.again:
                batch, attempt = self.again.popleft()
            else:
                batch = next(fresh, None) if more else None
                if batch is None:
                    more = False
                    break
                attempt = 0
            self.calls[actor.verify.remote(batch)] = (actor, batch, attempt)
            self.live[actor] += 1
        return more or bool(self.again)

    def run(self, fresh: Iterator[list[Item]], cap: int, task: Task) -> Iterator[tuple[Item, Any]]:
        ray = self.ray
        dead_errors = (ray.exceptions.RayActorError,)
        more = True
        while True:
            if more or self.again:
                more = self._fill(fresh, cap) or bool(self.again)
            if not self.calls and not more and not self.again:
                return
            waiting = [*self.calls, *self.starting]
            [ref], _ = ray.wait(waiting, num_returns=1)
            if ref in self.starting:
                actor = self.starting.pop(ref)
                try:
                    node = ray.get(ref)
                except dead_errors:
                    self.spawn()  # never placed, or died on the way: ask again
                    continue
                logger.info("a Ray verify actor is ready on node %s", node[:12])
                self.live[actor] = 0
                continue
            actor, batch, attempt = self.calls.pop(ref)
            try:
                out = ray.get(ref)
            except dead_errors:
                self._requeue(batch, attempt)
                self._dead(actor)
                continue
            except ray.exceptions.RayTaskError as e:
                raise e.cause from None  # our own error in the actor (an InputError, ...)
            self.live[actor] -= 1
            for i, verdict in out:
                yield batch[i], verdict
            task.advance(len(batch))

    def close(self) -> None:
        for actor in [*self.live, *self.starting.values()]:
            self.ray.kill(actor, no_restart=True)
        self.live.clear()
        self.starting.clear()
        self.calls.clear()

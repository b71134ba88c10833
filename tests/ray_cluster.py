"""A real two-node Ray cluster on this machine (two raylets, one CPU each) for the tests that
run a job across nodes: generation's and verification's (shared helper, not a test module).
Every process it starts is Ray's own, stopped through the cluster handle. Ray binds this
host's own address (a head pinned to 127.0.0.1 still advertises the host's address, which the
driver then cannot reach), so nothing leaves the machine, but it is not loopback alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def two_node_cluster() -> Iterator[tuple[Any, Any, Any]]:
    """(`ray`, the `Cluster`, the worker node) with the driver joined to the cluster; the
    worker node can be removed mid-run (`cluster.remove_node(worker)`) to kill its actors."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # another module's local instance; this one needs the cluster
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        yield ray, cluster, worker
    finally:
        ray.shutdown()
        cluster.shutdown()

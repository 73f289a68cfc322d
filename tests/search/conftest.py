"""A real multi-node Ray cluster on loopback for the cluster and node-loss tests.

``ray start`` binds to the machine's network address, which tests never use, and refuses to add
worker nodes under ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; Ray's own
``ray.cluster_utils.Cluster`` starts a real GCS and one raylet per node, all on 127.0.0.1.
"""

from __future__ import annotations

import pytest

NODE_NAMES = ("node_a", "node_b")


@pytest.fixture
def two_node_cluster():
    """A head that runs no trials (as the compose head) and two 1-CPU worker nodes, each with
    a custom resource named after it. Yields ``(cluster, {name: node})``; the test process does
    not join it (the driver under test does, through ``ray.address``)."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        nodes = {name: cluster.add_node(num_cpus=1, resources={name: 1}) for name in NODE_NAMES}
        cluster.wait_for_nodes()
        yield cluster, nodes
    finally:
        cluster.shutdown()

"""How node failures read, and that they survive a process boundary."""

from __future__ import annotations

import pickle

from chaintap.errors import NodeError


def test_node_error_does_not_repeat_what_the_connector_already_said() -> None:
    error = NodeError(
        "pg-job",
        "warehouse",
        "pipeline 'pg-job', sink 'warehouse' (postgresql://u:***@h:5432/db): boom",
        (10, 19),
    )
    assert str(error) == (
        "pipeline 'pg-job', node 'warehouse', blocks 10..19: "
        "sink 'warehouse' (postgresql://u:***@h:5432/db): boom"
    )
    source = NodeError("p", "logs", "source 'logs': nothing to read")
    assert str(source) == "pipeline 'p', node 'logs': nothing to read"


def test_node_error_pickles_with_its_parts() -> None:
    error = NodeError("p", "n", "it broke", (1, 2))
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error)
    assert (again.pipeline, again.node, again.block_range) == ("p", "n", (1, 2))

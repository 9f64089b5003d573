import os

import pytest
import torch

# One torch thread: the tests train many tiny models, for which a second thread costs more in
# synchronisation than it gains (and on two shared cores it oversubscribes the CPU: 10–20×
# slower under load). $WORKBENCH_TEST_THREADS overrides.
torch.set_num_threads(int(os.environ.get("WORKBENCH_TEST_THREADS", "1")))

# A failed claim check (workbench.core.exercises.claim) fails hard in the tests, in this process
# and in the papermill kernels it starts (they inherit the environment).
os.environ.setdefault("WORKBENCH_STRICT", "1")


@pytest.fixture
def store(tmp_path):
    from workbench.core.store import RunStore
    return RunStore(tmp_path / "runs")

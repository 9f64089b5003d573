"""Algorithmic datasets: ``a op b mod p`` and sparse parity, generated from a seed.

Every dataset is a pair ``(tokens, labels)``: ``tokens`` is an int64 tensor (N, L) of L input
positions, each taking ``vocab`` values, and ``labels`` is (N,). The MLP sees the L one-hots
concatenated; the transformer sees them as a sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Dataset", "modular_arithmetic", "sparse_parity", "split", "is_prime", "OPERATIONS"]

OPERATIONS = ("add", "sub", "mul", "div")


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    f = 2
    while f * f <= n:
        if n % f == 0:
            return False
        f += 1
    return True


@dataclass
class Dataset:
    tokens: torch.Tensor   # (N, L) int64
    labels: torch.Tensor   # (N,) int64
    vocab: int             # values per position
    n_classes: int

    def __len__(self) -> int:
        return len(self.labels)


def modular_arithmetic(p: int, operation: str = "add") -> Dataset:
    """All pairs (a, b) with label ``a op b mod p``.

    add, sub, mul use every a, b in 0..p−1 (p² rows); div uses b in 1..p−1 and needs a prime
    p (b⁻¹ = b^(p−2) mod p by Fermat), giving p(p−1) rows.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation: must be one of {', '.join(OPERATIONS)} (got {operation!r})")
    if p < 2:
        raise ValueError(f"p: must be >= 2 (got {p})")
    if operation == "div" and not is_prime(p):
        raise ValueError(f"p: division mod p needs a prime p (got {p})")
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    if operation == "div":
        keep = b != 0
        a, b = a[keep], b[keep]
        inv = torch.tensor([pow(int(x), p - 2, p) for x in range(p)])
        y = (a * inv[b]) % p
    else:
        y = {"add": a + b, "sub": a - b, "mul": a * b}[operation] % p
    return Dataset(torch.stack([a, b], 1), y, vocab=p, n_classes=p)


def sparse_parity(k: int, n_noise: int, n_samples: int, seed: int) -> Dataset:
    """Random bit strings of length k + n_noise; the label is the XOR of the first k bits."""
    if k < 1:
        raise ValueError(f"parity_k: must be >= 1 (got {k})")
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n_samples, k + n_noise), generator=g)
    return Dataset(bits, bits[:, :k].sum(1) % 2, vocab=2, n_classes=2)


def split(n: int, train_frac: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of ``range(n)`` into train and test indices (train first
    ``round(train_frac·n)`` of a permutation)."""
    if not 0 < train_frac < 1:
        raise ValueError(f"train_frac: must be in (0, 1) (got {train_frac})")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_train = max(1, min(n - 1, round(train_frac * n)))
    return perm[:n_train].sort().values, perm[n_train:].sort().values

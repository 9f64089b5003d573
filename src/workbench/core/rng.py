"""The one per-instance random-number scheme: counter-based uniforms.

Every random number a batched trainer draws inside its step loop (dropout masks, data
streams, Gumbel noise, minibatch orders) comes from :func:`uniform`. Element ``j`` of
instance ``i`` is a pure function of four integers, ``(seed_i, step, salt, j)``: an instance
draws the same numbers alone or in a batch, in one process or another, and after a resume
(there is no generator state to save). All instances are drawn in one launch sequence, on
the device the seeds live on, and ``step`` may be a tensor on that device (so a captured CUDA
graph can replay it).

The hash is C. Wellons' ``lowbias32`` (a 32-bit integer mixer with full avalanche), applied
twice: ``x = mix(mix(j ^ key_i) + c)``, ``key_i = mix(seed_i ^ mix(step·φ + salt·c'))``, all
mod 2³². The top 24 bits of x give a float32 in [0, 1) (multiples of 2⁻²⁴). Its limits: the
key has 32 bits, and (step, salt) enter through one 32-bit sum step·φ + salt·c', which is
injective only on a box: two pairs whose steps differ by < 126263 and salts by < 8445 never
share a key (tests/test_core.py checks it); use small, distinct salts for distinct purposes.
It is the counter-based dropout hash of earlier versions, computed in int32 (≈5× faster than
the int64 form, the same numbers).

:func:`generator` is for one-off host-side draws (weight initialisation): a
``torch.Generator`` seeded by a mix of a seed and salts.
"""

from __future__ import annotations

import torch

__all__ = ["uniform", "generator"]

_M32 = 0xFFFFFFFF
_C1, _C2 = 0x7FEB352D, 0x846CA68B - (1 << 32)   # lowbias32's multipliers, as int32
_PHI, _SALT, _ROUND2 = 0x9E3779B9, 0x85EBCA6B, 0x632BE5AB
_CPU_BLOCK = 1 << 16


def _mix64(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on int64 tensors holding uint32s (used for the per-instance keys)."""
    x = x ^ (x >> 16)
    x = (x * _C1) & _M32
    x = x ^ (x >> 15)
    x = (x * (_C2 & _M32)) & _M32
    return x ^ (x >> 16)


def _mix32_(x: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """lowbias32 in place on an int32 tensor (uint32 bits; products wrap mod 2³², and the
    masks turn the arithmetic right shifts into logical ones). ``tmp`` is scratch space."""
    torch.bitwise_right_shift(x, 16, out=tmp).bitwise_and_(0xFFFF)
    x.bitwise_xor_(tmp).mul_(_C1)
    torch.bitwise_right_shift(x, 15, out=tmp).bitwise_and_(0x1FFFF)
    x.bitwise_xor_(tmp).mul_(_C2)
    torch.bitwise_right_shift(x, 16, out=tmp).bitwise_and_(0xFFFF)
    return x.bitwise_xor_(tmp)


def _keys(seeds: torch.Tensor, step, salt: int) -> torch.Tensor:
    """Per-instance 32-bit keys (as int32, shape (I,)) from seeds, step and salt."""
    if isinstance(step, torch.Tensor):
        mixed = (step.to(device=seeds.device, dtype=torch.int64) * _PHI + salt * _SALT) & _M32
    else:
        mixed = torch.tensor((int(step) * _PHI + salt * _SALT) & _M32, device=seeds.device)
    key = _mix64((seeds.to(torch.int64) & _M32) ^ _mix64(mixed))
    return (key - ((key >> 31) << 32)).to(torch.int32)   # uint32 bits → int32


def uniform(seeds: torch.Tensor, step, salt: int, shape, offset: int = 0) -> torch.Tensor:
    """Uniform [0, 1) float32s of shape (I, *shape) for I = len(seeds), on ``seeds.device``.

    Element j of instance i (j counting row-major over ``shape``, plus ``offset``) is a pure
    function of (seeds[i], step, salt, j): the same whatever else is in the batch, after a
    resume, and for any chunking (draw rows a:b of a big array with ``offset=a·row_size``).
    ``step`` is an int or an integer tensor (0-d, or (I,) for per-instance steps); ``salt``
    separates the purposes of one trainer (data, dropout, noise …).
    """
    shape = tuple(int(s) for s in shape)
    numel = 1
    for s in shape:
        numel *= s
    if offset < 0 or offset + numel > 2 ** 31:
        raise ValueError(f"uniform: offset + numel must be in [0, 2^31] (got {offset}+{numel})")
    seeds = torch.as_tensor(seeds)
    key = _keys(seeds, step, salt).view(-1, 1)
    out = torch.empty(len(key), numel, device=seeds.device)
    # on a CPU, blocks of ~64k numbers keep the dozen passes over them in cache
    block = numel if seeds.device.type != "cpu" else max(1, _CPU_BLOCK // len(key))
    for a in range(0, numel, block):
        b = min(numel, a + block)
        x = torch.arange(offset + a, offset + b, device=seeds.device, dtype=torch.int32) ^ key
        tmp = torch.empty_like(x)
        _mix32_(x, tmp).add_(_ROUND2)
        _mix32_(x, tmp)
        torch.bitwise_right_shift(x, 8, out=tmp).bitwise_and_(0xFFFFFF)
        torch.mul(tmp, 1.0 / (1 << 24), out=out[:, a:b])
    return out.view(len(key), *shape)


def generator(seed: int, *salt: int, device="cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded by a mix of ``seed`` and ``salt`` (distinct streams per
    purpose), for one-off draws outside the step loop such as weight initialisation."""
    key = seed
    for s in salt:
        key = (key * 1_000_003 + s * 7919 + 0x9E3779B9) % (2 ** 62)
    return torch.Generator(device=device).manual_seed(key)

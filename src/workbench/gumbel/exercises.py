"""Exercises for the Gumbel-Softmax notebooks.

*Implement and test* (as ARENA's ``tests.test_x(fn)``): ``check_gumbel_softmax(fn)``
(checked statistically: the learner's function draws its own noise), ``check_straight_through
(fn)`` (its value and its gradient) and ``check_score_function(fn)`` (REINFORCE's per-sample
estimate) run the learner's function next to the reference (:mod:`.reference`) on
constructed cases and report the first failing case with a hint.

*Check yourself*: ``check_*(answer, …)`` compare an answer with the right one, computed
exactly or by a seeded simulation, or read from a finished run.

Every checker returns a :class:`~workbench.core.exercises.Check`: truthy when right, with a
✓/✗ message and a hint. A wrong, missing, raising or malformed answer never raises.
"""

from __future__ import annotations


import torch

from ..core.exercises import Case, Check, check_function, check_number, number as _number
from .reference import gumbel_softmax_sample, straight_through
from .samplers import gumbel_noise, gumbel_softmax

__all__ = ["Check", "expected_soft_sample", "check_expected_soft_sample", "check_more_bias",
           "check_best_estimator", "check_gumbel_softmax", "check_straight_through",
           "check_score_function", "score_function", "gumbel_softmax_cases",
           "check_soft_grad_mean", "check_t0_agreement", "t0_agreement"]


# ---------------------------------------------------------------------- implement and test
_ROWS = 20_000   # samples per case of check_gumbel_softmax
_Z = 5.0         # a statistic fails beyond this many standard errors (p ≈ 6e-7 each)


def gumbel_softmax_cases() -> list[Case]:
    """Logits (N, K) and τ of :func:`check_gumbel_softmax`, each row one sample to draw."""
    pi = torch.tensor([0.5, 0.25, 0.15, 0.1])
    two = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]]).repeat(_ROWS // 2, 1)
    huge = torch.tensor([500.0, 499.0, -500.0]).expand(_ROWS, -1)
    return [
        Case("π = (0.5, 0.25, 0.15, 0.1), τ = 1", (pi.log().expand(_ROWS, -1), 1.0),
             "y = softmax((logits + g)/τ) with g = −log(−log U), U ~ Uniform(0, 1), fresh "
             "noise for every entry (shape = logits.shape): the argmax of y must be a sample "
             "from softmax(logits)."),
        Case("τ = 0.1: nearly one-hot", (pi.log().expand(_ROWS, -1), 0.1),
             "Divide (logits + g) by τ — both terms, and divide rather than multiply: a small "
             "τ sharpens the sample toward a one-hot vector."),
        Case("τ = 5: pulled to the centre", (pi.log().expand(_ROWS, -1), 5.0),
             "Divide (logits + g) by τ: a large τ flattens the sample toward the centre "
             "(1/K, …, 1/K)."),
        Case("two different rows, alternating", (two, 1.0),
             "Each row has its own logits: use every row, not the first one."),
        Case("huge logits (±500)", (huge, 1.0),
             "exp(500) overflows: use torch.softmax (it subtracts the row maximum) rather "
             "than exp(x) / exp(x).sum()."),
    ]


def _reference_gumbel(logits, tau):
    return gumbel_softmax_sample(logits, tau), torch.softmax(logits.double(), -1), tau


def _z_fail(name: str, got: torch.Tensor, ref: torch.Tensor) -> str | None:
    """Two-sample test of the column means of two (N, K) samples."""
    n = got.shape[0]
    se = ((got.var(0) + ref.var(0)) / n).sqrt() + 1e-4
    z = ((got.mean(0) - ref.mean(0)) / se).abs()
    if float(z.max()) > _Z:
        k = int(z.argmax())
        return (f"{name} is {float(got.mean(0)[k]):.3f} for category {k}, the reference gives "
                f"{float(ref.mean(0)[k]):.3f} (±{float(se[k]):.3f})")
    return None


def _compare_gumbel(got, expected):
    ref, probs, tau = expected
    got = torch.as_tensor(got)
    if tuple(got.shape) != tuple(ref.shape):
        return f"shape {tuple(got.shape)}, expected {tuple(ref.shape)} (one sample per row)"
    got = got.detach().double()
    if not bool(torch.isfinite(got).all()):
        return ("contains NaN or inf — does an exp overflow? torch.softmax subtracts the row "
                "maximum first")
    if float(got.min()) < -1e-6 or float((got.sum(-1) - 1).abs().max()) > 1e-4:
        return (f"rows are not on the simplex (min entry {float(got.min()):.3g}, row sums "
                f"{float(got.sum(-1).min()):.4f}…{float(got.sum(-1).max()):.4f})")
    K = got.shape[-1]
    counts = torch.nn.functional.one_hot(got.argmax(-1), K).double().sum(0)
    mean, var = probs.sum(0), (probs * (1 - probs)).sum(0)
    z = ((counts - mean) / var.clamp(min=1e-12).sqrt()).abs()
    if float(z.max()) > _Z:
        k = int(z.argmax())
        return (f"argmax is category {k} in {float(counts[k]) / len(got):.3f} of the rows, "
                f"softmax(logits) gives {float(mean[k]) / len(got):.3f}")
    return (_z_fail("the mean of y", got, ref.double())
            or _z_fail("the mean of max_k y_k", got.max(-1, keepdim=True).values,
                       ref.double().max(-1, keepdim=True).values))


def check_gumbel_softmax(fn) -> Check:
    """Implement-and-test: ``fn(logits, tau)`` with logits (N, K) returns one relaxed sample
    per row, y = softmax((logits + g)/τ), g ~ Gumbel(0, 1), as an (N, K) tensor.

    Checked statistically on 20,000 rows per case, against the reference's own samples: rows
    on the simplex; the argmax frequencies against softmax(logits) (a z-test per category);
    the mean of y and of max_k y_k against the reference (two-sample z-tests), which is what
    depends on τ. Each test fails beyond 5 standard errors."""
    return check_function(fn, _reference_gumbel, gumbel_softmax_cases(),
                          name="gumbel_softmax", compare=_compare_gumbel,
                          success="Its argmax is an exact sample (Gumbel-max); the softmax "
                                  "makes it differentiable, and τ sets how close to one-hot "
                                  "it is.")


def _st_probe(fn, y: torch.Tensor, w: torch.Tensor):
    """(forward value, gradient of Σ w·fn(y) with respect to y) of a straight-through fn."""
    y = y.detach().clone().requires_grad_(True)
    out = torch.as_tensor(fn(y))
    if out.requires_grad:                  # else: nothing flows back (reported by compare)
        (out * w).sum().backward()
    return out.detach(), y.grad


def straight_through_cases() -> list[Case]:
    g = torch.Generator().manual_seed(0)
    y2 = torch.softmax(torch.randn(6, 4, generator=g, dtype=torch.float64), -1)
    y3 = torch.softmax(torch.randn(2, 5, 3, generator=g, dtype=torch.float64), -1)
    return [
        Case("6 samples, K = 4", (y2, torch.randn(6, 4, generator=g, dtype=torch.float64)),
             "Forward: the one-hot of argmax y. Backward: the gradient of y itself."),
        Case("latents (2, 5, 3): argmax over the last axis",
             (y3, torch.randn(2, 5, 3, generator=g, dtype=torch.float64)),
             "Take the argmax and the one-hot along the last axis (dim=-1)."),
    ]


def _compare_st(got, expected):
    (value, grad), (ref_value, ref_grad) = got, expected
    value = torch.as_tensor(value)
    if tuple(value.shape) != tuple(ref_value.shape):
        return f"shape {tuple(value.shape)}, expected {tuple(ref_value.shape)}"
    # z − sg(y) + y is one-hot up to rounding (1 − 0.3 + 0.3 need not be exactly 1)
    if not torch.allclose(value.double(), ref_value.double(), rtol=0, atol=1e-6):
        return "the forward value is not the one-hot of argmax y"
    if grad is None or not bool(grad.abs().sum() > 0):
        return "no gradient reaches y (the one-hot alone has none: add y − y.detach())"
    if not torch.allclose(grad.double(), ref_grad.double(), atol=1e-12):
        return ("the gradient with respect to y is not the upstream gradient itself "
                f"(max error {float((grad - ref_grad).abs().max()):.3g}): check the signs")
    return None


def check_straight_through(fn) -> Check:
    """Implement-and-test: ``fn(y)`` takes soft samples y (…, K) and returns the
    straight-through sample: exactly one-hot (argmax of y) in the forward pass, with the
    gradient of y in the backward pass. Both the value and the gradient are checked."""
    probe = None if fn is None or not callable(fn) else (lambda y, w: _st_probe(fn, y, w))
    return check_function(probe, lambda y, w: _st_probe(straight_through, y, w),
                          straight_through_cases(), name="straight_through",
                          compare=_compare_st,
                          hint="Hint: hard − y.detach() + y.",
                          success="The forward pass sees a discrete sample; the backward "
                                  "pass pretends it was y.")


def score_function(logits: torch.Tensor, z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """REINFORCE's per-sample estimate of ∇_θ E_{z~Cat(softmax θ)}[f(z)]:
    f(z)·∇_θ log π_z = f(z)·(e_z − softmax(θ)). logits (N, K), z (N,), f (N,) → (N, K)."""
    e = torch.nn.functional.one_hot(z, logits.shape[-1]).to(logits.dtype)
    return f.unsqueeze(-1) * (e - torch.softmax(logits, -1))


def score_function_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 5, generator=g, dtype=torch.float64)
    z = torch.randint(5, (8,), generator=g)
    f = torch.randn(8, generator=g, dtype=torch.float64)
    return [
        Case("8 samples, K = 5", (logits, z, f),
             "∇_θ log softmax(θ)_z = e_z − softmax(θ); multiply by f(z)."),
        Case("a zero reward", (logits, z, torch.zeros(8, dtype=torch.float64)),
             "With f(z) = 0 the estimate is exactly 0."),
        Case("huge logits (±1000)", (logits * 1000, z, f),
             "exp(1000) overflows: use torch.softmax, not exp(θ) / exp(θ).sum()."),
    ]


def _compare_close(got, expected):
    got = torch.as_tensor(got)
    if tuple(got.shape) != tuple(expected.shape):
        return f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if not bool(torch.isfinite(got).all()):
        return "contains NaN or inf"
    err = float((got.double() - expected.double()).abs().max())
    return f"max |error| {err:.3g}" if err > 1e-9 else None


def check_score_function(fn) -> Check:
    """Implement-and-test: ``fn(logits, z, f)`` with logits (N, K), sampled categories z (N,)
    and their values f(z) (N,) returns REINFORCE's estimates f(z)·∇_θ log π_z, (N, K)."""
    return check_function(fn, score_function, score_function_cases(), name="score_function",
                          compare=_compare_close,
                          success="Unbiased, since E[∇ log π_z] = 0, but every sample "
                                  "carries the full f(z): hence REINFORCE's variance.")


# ---------------------------------------------------------------------- check yourself


def expected_soft_sample(probs, tau: float, n: int = 200_000, seed: int = 0) -> torch.Tensor:
    """E[y] of the Gumbel-Softmax sample y = softmax((log π + g)/τ), by simulation."""
    p = torch.as_tensor(probs, dtype=torch.float64)
    g = gumbel_noise((n, len(p)), torch.Generator().manual_seed(seed), dtype=torch.float64)
    return gumbel_softmax(p.log().expand(n, -1), tau, noise=g).mean(0)


def check_expected_soft_sample(answer, probs=(0.7, 0.2, 0.1), tau: float = 1.0,
                               tolerance: float = 0.02) -> Check:
    """Exercise: what is E[y₀], the mean first coordinate of a Gumbel-Softmax sample with
    probabilities ``probs`` at temperature ``tau``? (Not π₀: the relaxation is biased.)"""
    expected = float(expected_soft_sample(probs, tau)[0])
    hint = ("Hint: draw many samples with workbench.gumbel.gumbel_softmax(torch.tensor(probs)"
            ".log().expand(n, -1), tau) and average them; at τ → 0 the answer tends to π₀, "
            "at τ → ∞ to 1/K.")
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    if abs(value - expected) <= tolerance:
        return Check(True, f"✓ Right: E[y₀] ≈ {expected:.3f} at τ = {tau:g}, below π₀ = "
                           f"{probs[0]:g} — the soft sample is pulled toward the centre of the "
                           f"simplex.", expected, tolerance)
    extra = " That is π₀ itself: only the hard (argmax) sample has mean π." \
        if abs(value - probs[0]) < 1e-9 else ""
    return Check(False, f"✗ Not quite: {value:g} (accepted within ±{tolerance:g}).{extra} {hint}",
                 expected, tolerance)


def check_more_bias(answer, table) -> Check:
    """Exercise: at τ = 1, which estimator has the larger bias, ``"gs"`` or ``"st"``? ``table``
    is :func:`~workbench.gumbel.estimators.estimator_table` of a τ-grid sweep."""
    rows = table[(table.tau == 1.0) & table.estimator.isin(["gs", "st"])]
    if rows.empty:
        return Check(False, "✗ The table has no τ = 1 row; run the 'estimators' scenario.")
    bias = dict(zip(rows.estimator, rows.bias))
    expected = max(bias, key=bias.get)
    hint = "Hint: read the ‖bias‖ column of the table at τ = 1."
    if not isinstance(answer, str) or answer.lower() not in ("gs", "st"):
        return Check(False, f"✗ Answer 'gs' or 'st' (got {answer!r}). {hint}", expected)
    if answer.lower() == expected:
        return Check(True, f"✓ Right: at τ = 1, ‖bias‖ is {bias['gs']:.3f} for GS and "
                           f"{bias['st']:.3f} for ST — ST evaluates f at the hard sample, so "
                           f"only its Jacobian is relaxed.", expected)
    return Check(False, f"✗ Not quite. {hint}", expected)


def check_best_estimator(answer, summary) -> Check:
    """Exercise: which estimator reached the lowest test −ELBO in a VAE sweep (``"gs"``,
    ``"st"`` or ``"reinforce"``)? ``summary`` is the sweep's summary table."""
    means = summary.groupby("estimator")["final_test_nelbo"].mean()
    expected = str(means.idxmin())
    hint = "Hint: compare the final_test_nelbo column (lower is better)."
    if not isinstance(answer, str) or answer.lower() not in set(means.index):
        return Check(False, f"✗ Answer one of {', '.join(means.index)} (got {answer!r}). {hint}",
                     expected)
    if answer.lower() == expected:
        table = ", ".join(f"{k} {v:.2f}" for k, v in means.sort_values().items())
        return Check(True, f"✓ Right: {expected} has the lowest −ELBO ({table}).", expected)
    return Check(False, f"✗ Not quite: {answer} reached {means[answer.lower()]:.2f}, another "
                        f"estimator did better. {hint}", expected)


def check_soft_grad_mean(answer, n: int = 1_000_000, tolerance: float = 0.01) -> Check:
    """Exercise (SofT-GRPO): the surrogate's gradient with respect to log p_k is 1 − e^{−g′_k};
    at the policy that drew the rollout g′ = g ~ Gumbel(0, 1). What is E[1 − e^{−g}]?
    (Computed by a seeded simulation; the exact value is 0, since e^{−g} ~ Exponential(1).)"""
    g = gumbel_noise((n,), torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = float((1 - torch.exp(-g)).mean())
    hint = ("Hint: if g ~ Gumbel(0, 1) then e^{−g} = −log U with U uniform, an Exponential(1) "
            "variable; or simulate it with workbench.gumbel.gumbel_noise.")
    return check_number(answer, expected, tolerance, hint=hint,
                        right=f"E[1 − e^(−g)] = 0 (simulated {expected:+.4f}). On its own the "
                              f"soft-token gradient averages out: only its correlation with "
                              f"the advantage moves the policy.")


def t0_agreement(vocab: int = 5, n: int = 200_000, tau_max: float = 1.0) -> float:
    """How often argmax x₀ equals x₁ on the flow toy's path at t = 0, by simulation."""
    from .flow import path
    gen = torch.Generator().manual_seed(0)
    x1 = torch.nn.functional.one_hot(torch.randint(vocab, (n, 1), generator=gen), vocab)
    x1 = x1.double()                                               # (n, L = 1, V)
    g = gumbel_noise((n, 1, vocab), gen, dtype=torch.float64)
    x0 = path(x1, g, torch.zeros(n, dtype=torch.float64), tau_max=tau_max, lam=2.0,
              delta_max=12.0)
    return float((x0.argmax(-1) == x1.argmax(-1)).double().mean())


def check_t0_agreement(answer, vocab: int = 5, tolerance: float = 0.01) -> Check:
    """Exercise (Gumbel-Softmax flow): at t = 0 the path is x₀ = softmax(g/τ_max), whatever
    x₁ is. With V tokens, how often does argmax x₀ equal the clean token x₁? (Simulated on
    the flow's own path function; the exact value is 1/V.)"""
    expected = t0_agreement(vocab)
    hint = ("Hint: at t = 0, δ(0) = 0, so x₁ does not enter x₀ at all; argmax of Gumbel noise "
            "is a uniform token.")
    return check_number(answer, expected, tolerance, hint=hint,
                        right=f"1/V = {1 / vocab:.3f} (simulated {expected:.3f}). The sampler "
                              f"starts from noise that carries no information about the data; "
                              f"everything it knows comes from the denoiser.")

"""Exercises for the grokking notebooks.

Implement-and-test (as ARENA's): ``check_stablemax(fn)``, ``check_perp_grad(fn)`` and
``check_sc_fraction(fn)`` run the learner's function and the reference
(``grokking/reference.py``) on constructed cases — ordinary ones and the edge cases that
matter (huge logits, a zero gradient, float16) — and report the first failing case with a
hint. Check-yourself: ``check_collapse_margin(answer)`` and ``check_grok_step(answer, run)``
work out the right answer from first principles or from a finished run.

Every checker returns a :class:`Check`: truthy when right, shown as a ✓/✗ message. A wrong,
missing or malformed answer, or a function that raises, never raises.

>>> from workbench.grokking.exercises import check_collapse_margin
>>> check_collapse_margin(10)            # doctest: +ELLIPSIS
✗ ...
"""

from __future__ import annotations

import torch

from ..core.device import dtype_of
from ..core.exercises import Case, Check, check_function, number as _number, tensors_close
from . import reference as R
from .metrics import softmax_collapse_fraction

__all__ = ["Check", "collapse_margin", "check_collapse_margin", "check_grok_step",
           "check_stablemax", "check_perp_grad", "check_sc_fraction"]


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- implement and test
def check_stablemax(fn) -> Check:
    """Exercise: write ``fn(logits)`` mapping float64 logits (N, C) to StableMax probabilities
    (N, C): s(x) = x + 1 for x ≥ 0, 1/(1 − x) for x < 0, normalised per row (Prieto et al.
    2025, eq. 5). Checked to 1e-9 relative (and float64 out) on small, mixed-sign, huge
    (up to 1e150), all-zero and very negative logits."""
    g = _rng(0)
    huge = torch.randn(6, 9, generator=g, dtype=torch.float64) * torch.logspace(
        30, 150, 6, dtype=torch.float64).view(-1, 1)
    cases = [
        Case("small logits", (torch.randn(5, 7, generator=g, dtype=torch.float64),)),
        Case("mixed signs, 59 classes", (torch.randn(8, 59, generator=g, dtype=torch.float64) * 6,),
             "Hint: the negative branch is 1/(1 − x), which lies in (0, 1) for x < 0."),
        Case("huge logits (up to 1e150)", (huge,),
             "Hint: no exp anywhere, and stay in float64: float32 overflows past 3.4e38."),
        Case("all-zero logits", (torch.zeros(3, 5, dtype=torch.float64),),
             "Hint: s(0) = 1, so every class gets 1/C."),
        Case("very negative logits", (-torch.rand(4, 6, generator=g, dtype=torch.float64) * 1e6,),
             "Hint: for x ≪ 0, s(x) = 1/(1 − x) is tiny but positive; the row still sums to 1."),
    ]
    return check_function(fn, R.stablemax, cases, name="stablemax", compare=tensors_close(1e-9),
                          hint="Hint: compute s(z) elementwise with torch.where, then divide "
                               "by its sum over the last axis (keepdim=True).",
                          success="StableMax never rounds to a one-hot: s grows linearly.")


def check_perp_grad(fn) -> Check:
    """Exercise: write ``fn(w, g)`` returning ⊥Grad of one parameter tensor: the gradient with
    its component along the weights removed, g⊥ = g − (⟨w, g⟩/⟨w, w⟩)·w, rescaled to the
    norm of g (Prieto et al. 2025, §5); 1e-30 guards both divisions. Checked to 1e-9
    relative on random tensors, a gradient mostly along w, a 1-D parameter, a gradient
    exactly along w, a zero gradient and zero weights."""
    g = _rng(1)
    w = torch.randn(7, 5, generator=g, dtype=torch.float64)
    e1 = torch.zeros(6, dtype=torch.float64)
    e1[0] = 1.0
    guard = "Hint: guard the division: ‖g⊥‖ can be exactly 0 (add 1e-30 as the reference does)."
    cases = [
        Case("random weights and gradient",
             (w, torch.randn(7, 5, generator=g, dtype=torch.float64))),
        Case("gradient mostly along w",
             (w, torch.randn(7, 5, generator=g, dtype=torch.float64) + 3 * w),
             "Hint: after the projection, rescale g⊥ to the norm of the original g."),
        Case("a 1-D parameter", (torch.randn(9, generator=g, dtype=torch.float64),
                                 torch.randn(9, generator=g, dtype=torch.float64))),
        Case("gradient exactly along w (nothing is left)", (2 * e1, 3 * e1), guard),
        Case("a zero gradient", (w, torch.zeros_like(w)), guard),
        Case("zero weights (nothing to project out)", (torch.zeros_like(w), w),
             "Hint: ⟨w, w⟩ = 0 here: guard it (+ 1e-30) and the gradient passes unchanged."),
    ]
    return check_function(fn, R.perp_grad, cases, name="perp_grad",
                          compare=tensors_close(1e-9, 1e-12),
                          hint="Hint: sums run over every element of the tensor: "
                               "(w * g).sum(), (w * w).sum(), g.norm().",
                          success="⊥Grad keeps the gradient's size but never lets it simply "
                                  "scale the weights up.")


def _sc_cases():
    g = _rng(2)
    lead = torch.linspace(0, 45, 90, dtype=torch.float64)
    z = torch.randn(90, 59, generator=g, dtype=torch.float64)
    z[:, 0] = z.max(-1).values + lead                       # top logit leads by 0 … 45
    precision = "Hint: cast the logits to `dtype` before the exp: the rounding is the point."
    return [
        Case("float32, leads 0 … 45", (z, torch.float32), precision),
        Case("float16, leads 0 … 45", (z, torch.float16), precision),
        Case("float64, leads 0 … 45", (z, torch.float64), precision),
        Case("huge logits (1e4)", (z * 300, torch.float32),
             "Hint: subtract the row maximum before exp, or exp overflows to inf."),
    ]


def check_sc_fraction(fn) -> Check:
    """Exercise: write ``fn(logits, dtype)`` returning the Softmax Collapse fraction: the share
    of rows (logits (N, C), float64) whose softmax computed in ``dtype`` is an exact one-hot,
    i.e. S = Σ_k exp(z_k − max z) == 1 exactly (Prieto et al. 2025, §3). Checked exactly
    (to 1e-12) in float32, float16 and float64 and on huge logits."""
    def compare(got, expected):
        value = _number(got)
        if value is None:
            return f"expected a number, got {got!r}"
        if abs(value - float(expected)) > 1e-12:
            return f"you gave {value:.4g}, the share is {float(expected):.4g}"
        return None

    return check_function(fn, R.softmax_collapse_fraction, _sc_cases(), name="sc_fraction",
                          compare=compare,
                          hint="Hint: S = exp(z − max z).sum(-1) in `dtype`; count S == 1.",
                          success="Collapse comes at a lead of ≈ ln 2^(mantissa bits): "
                                  "≈ 8 in float16, ≈ 17 in float32, ≈ 37 in float64.")


def collapse_margin(dtype: str | torch.dtype = "float32", competitors: int = 1,
                    resolution: float = 1e-3, max_margin: float = 100.0) -> float:
    """The smallest lead of the top logit over ``competitors`` equal rivals from which on
    :func:`~workbench.grokking.metrics.softmax_collapse_fraction` in ``dtype`` reports a
    collapse (S = Σ_k exp(z_k − max z) rounds to exactly 1).

    Measured, not derived: logits (m, 0, …, 0) are built for margins m on a grid of step
    ``resolution`` and the first margin from which on every larger one collapses is returned
    (≈ ln 2²⁴ ≈ 16.6 for float32 with one competitor, ≈ 7.6 for float16, ≈ 36.7 for float64).
    """
    dt = dtype_of(dtype) if isinstance(dtype, str) else dtype
    margins = torch.arange(0.0, max_margin, resolution, dtype=torch.float64)
    logits = torch.zeros(len(margins), 1, competitors + 1, dtype=torch.float64)
    logits[:, 0, 0] = margins
    collapsed = softmax_collapse_fraction(logits, dt) == 1          # (len(margins),)
    if not bool(collapsed[-1]):
        raise ValueError(f"no collapse below a margin of {max_margin} in {dt}")
    not_collapsed = (~collapsed).nonzero()
    first = 0 if len(not_collapsed) == 0 else int(not_collapsed[-1]) + 1
    return round(float(margins[first]), 3)


def check_collapse_margin(answer, dtype: str = "float32", competitors: int = 1,
                          tolerance: float = 0.5) -> Check:
    """Exercise: how large must the top logit's lead over ``competitors`` equal rivals be before
    softmax in ``dtype`` returns an exact one-hot (Softmax Collapse)?

    Right when ``answer`` is within ``tolerance`` of :func:`collapse_margin`.
    """
    expected = collapse_margin(dtype, competitors)
    rivals = "one competitor" if competitors == 1 else f"{competitors} equal competitors"
    bits = _mantissa_bits(dtype)
    if competitors == 1:
        hint = (f"Hint: with a lead m over one competitor, S = 1 + e^(−m). S rounds to exactly 1 "
                f"once e^(−m) is at most half the gap between 1 and the next {dtype} number, "
                f"i.e. 2^−{bits}; so m ≈ ln(2^{bits}).")
    else:
        hint = (f"Hint: with a lead m over {rivals}, S = 1 + {competitors}·e^(−m), but the sum "
                f"is rounded term by term (or block by block), so the margin lies between "
                f"ln(2^{bits}) and ln({competitors}·2^{bits}); try softmax_collapse_fraction on "
                f"logits (m, 0, …, 0) for a few m.")
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    if abs(value - expected) <= tolerance:
        return Check(True, f"✓ Right: in {dtype}, softmax turns into an exact one-hot once the "
                           f"top logit leads {rivals} by about {expected:.1f} "
                           f"(you said {value:g}). From there on the correct class gets no "
                           f"gradient at all.", expected, tolerance)
    direction = "too small" if value < expected else "too large"
    return Check(False, f"✗ Not quite: {value:g} is {direction} (accepted: within ±{tolerance:g} "
                        f"of the true margin). {hint}", expected, tolerance)


def _mantissa_bits(dtype: str) -> int:
    """Bits of precision (mantissa + implicit bit) of a float dtype name."""
    return {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}.get(str(dtype), 24)


def check_grok_step(answer, run, threshold: float = 0.9) -> Check:
    """Exercise: read off the learning curves the first step at which test accuracy reaches
    ``threshold`` (0.9). Right when within one log interval of the run's summary
    (``step_test_acc_0.9``); ``run`` is a finished :class:`~workbench.core.store.Run`."""
    summary = run.summary
    log_every = int(summary.get("log_every") or run.config.get("log_every", 1))
    if threshold == 0.9 and "step_test_acc_0.9" in summary:
        expected = summary["step_test_acc_0.9"]
    else:
        m = run.metrics
        hit = m.loc[m["test_acc"] >= threshold, "step"]
        expected = None if hit.empty else int(hit.iloc[0])
    hint = (f"Hint: hover over the test-accuracy curve and find the first logged point at or "
            f"above {threshold:g}; metrics are logged every {log_every} steps.")
    if expected is None:
        if answer is None:
            return Check(True, f"✓ Right: this run never reaches test accuracy {threshold:g}.",
                         None, log_every)
        return Check(False, f"✗ This run never reaches test accuracy {threshold:g}, so there is "
                            f"no such step (answer None). {hint}", None, log_every)
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     log_every)
    if abs(value - expected) <= log_every:
        train = summary.get("step_train_acc_0.9")
        extra = (f" Train accuracy got there at step {train}: generalisation lagged "
                 f"memorisation by {expected - train} steps.") if train is not None else ""
        return Check(True, f"✓ Right: test accuracy first reaches {threshold:g} at step "
                           f"{expected} (you said {value:g}).{extra}", expected, log_every)
    direction = "too early" if value < expected else "too late"
    return Check(False, f"✗ Not quite: step {value:g} is {direction} (accepted: within one log "
                        f"interval, ±{log_every}). {hint}", expected, log_every)


# --------------------------------------------------------------------------- Li₂ and XOR
def check_node_concentration(fn) -> Check:
    """Exercise (Li₂): write ``fn(weights)`` for weights (2, M, K) float64 — operand a's and
    operand b's weight per residue and hidden node — returning each node's Fourier
    concentration (K,): P_j(k) = |DFT_a(k)|² + |DFT_b(k)|² over k = 1 … ⌊M/2⌋ (no constant
    term, k and M − k merged: ``torch.fft.rfft``), and max_k P_j(k) / Σ_k P_j(k). Checked to
    1e-9 on random weights, single-frequency nodes, two equal frequencies, an even M, weights
    with a constant offset, a node that only uses operand b, and huge weights."""
    from . import li2

    g = _rng(3)
    M = 23
    a = torch.arange(M, dtype=torch.float64).view(-1, 1)
    pure = torch.stack([torch.cos(2 * torch.pi * a * torch.tensor([1.0, 4.0, 9.0]) / M + 0.3),
                        torch.sin(2 * torch.pi * a * torch.tensor([1.0, 4.0, 9.0]) / M)])
    two = torch.zeros(2, M, 1, dtype=torch.float64)
    two[0] = torch.cos(2 * torch.pi * 2 * a / M) + torch.cos(2 * torch.pi * 5 * a / M)
    only_b = torch.zeros(2, M, 2, dtype=torch.float64)
    only_b[1] = torch.randn(M, 2, generator=g, dtype=torch.float64)
    rnd = torch.randn(2, M, 6, generator=g, dtype=torch.float64)
    cases = [
        Case("random weights, M = 23", (rnd,)),
        Case("nodes tuned to one frequency", (pure,),
             "Hint: a node that is a pure cosine in a has all its power at one k: share 1."),
        Case("two equal frequencies", (two,)),
        Case("an even M = 24", (torch.randn(2, 24, 4, generator=g, dtype=torch.float64),),
             "Hint: rfft gives k = 0 … M/2; drop k = 0 only."),
        Case("weights with a constant offset", (rnd + 5.0,),
             "Hint: the constant (k = 0) term is not a feature: leave it out of the sum."),
        Case("a node that only uses operand b", (only_b,),
             "Hint: add the power of both operands' spectra before taking the share."),
        Case("huge weights (×1e150)", (rnd * 1e150,),
             "Hint: the share is scale-free; compute in float64."),
    ]
    return check_function(fn, li2.node_concentration, cases, name="node_concentration",
                          compare=tensors_close(1e-9, 1e-12),
                          hint="Hint: P = torch.fft.rfft(weights, dim=-2)[..., 1:, :].abs()**2, "
                               "summed over the operand axis; then max over k / sum over k.",
                          success="A node that has found a feature puts all its weight on one "
                                  "frequency.")


def check_backprop_gradient(fn) -> Check:
    """Exercise (Li₂): write ``fn(F, V, y)`` returning G_F = −∂L/∂F, the gradient the top layer
    sends back to the hidden activations, for the mean cross-entropy L of logits F V
    (F (n, K), V (K, M) float64, labels y (n,)). Checked to 1e-9 on random inputs, one
    sample, huge logits, a zero top layer and confident correct predictions."""
    from . import li2

    g = _rng(4)
    n, K, M = 12, 6, 7
    Fm = torch.rand(n, K, generator=g, dtype=torch.float64)
    V = torch.randn(K, M, generator=g, dtype=torch.float64)
    y = torch.randint(0, M, (n,), generator=g)
    sure = torch.zeros(K, M, dtype=torch.float64)
    sure[0] = 50.0 * (torch.arange(M) == 3)
    cases = [
        Case("random activations and top layer", (Fm, V, y)),
        Case("one sample", (Fm[:1], V, y[:1]),
             "Hint: L is the mean over the n rows, so G_F carries a factor 1/n."),
        Case("huge logits (≈ 1e3)", (Fm * 400, V, y),
             "Hint: exp(1000) overflows even in float64; use torch.softmax (it subtracts the "
             "row maximum)."),
        Case("a zero top layer", (Fm, torch.zeros(K, M, dtype=torch.float64), y),
             "Hint: with V = 0 nothing flows back: G_F = 0."),
        Case("confident correct predictions", (torch.ones(3, K, dtype=torch.float64), sure,
                                               torch.tensor([3, 3, 3]))),
    ]
    return check_function(fn, li2.backprop_gradient, cases, name="backprop_gradient",
                          compare=tensors_close(1e-9, 1e-12),
                          hint="Hint: ∂L/∂logits = (softmax − onehot)/n, and logits = F V, so "
                               "−∂L/∂F = (onehot − softmax) Vᵀ / n.",
                          success="This is the G_F whose structure the Li₂ stages follow.")


def check_network_gradient(fn) -> Check:
    """Exercise (XOR): write ``fn(W, a, X, y)`` returning ∂L/∂W for
    L = (1/n) Σ_i log(1 + exp(−y_i f(x_i))) with f(x) = Σ_j a_j ReLU(⟨w_j, x⟩) (W (m, p),
    a (m,), X (n, p), y (n,) ±1, float64; ReLU'(0) = 0 as in torch). Checked to 1e-9 on random
    inputs, a dead neuron, huge margins of both signs, zero weights and one sample."""
    from . import xor

    g = _rng(5)
    m, p, n = 6, 15, 10
    W = torch.randn(m, p, generator=g, dtype=torch.float64)
    a = xor.second_layer(m)
    X = torch.randn(n, p, generator=g, dtype=torch.float64)
    y = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()
    dead = W.clone()
    dead[2] = -X.sum(0) * 10                      # ⟨w_2, x_i⟩ < 0 for (almost) every point
    cases = [
        Case("random weights and points", (W, a, X, y)),
        Case("a dead neuron", (dead, a, X, y),
             "Hint: a neuron with ⟨w_j, x_i⟩ ≤ 0 on every point gets no gradient."),
        Case("huge margins of both signs", (W * 3000, a, X, y),
             "Hint: −ℓ'(z) = 1/(1 + e^z) = sigmoid(−z); use torch.sigmoid, not exp, or a "
             "large |z| gives inf/inf = NaN."),
        Case("zero weights", (torch.zeros(m, p, dtype=torch.float64), a, X, y),
             "Hint: at w = 0 every ReLU is flat (ReLU'(0) = 0): the gradient is exactly 0 — "
             "which is why the initialisation is tiny, not zero."),
        Case("one sample", (W, a, X[:1], y[:1]),
             "Hint: L is a mean over the n points: divide by n."),
    ]
    return check_function(fn, xor.logistic_gradient, cases, name="network_gradient",
                          compare=tensors_close(1e-9, 1e-12),
                          hint="Hint: with g_i = sigmoid(−y_i f(x_i)), row j of ∂L/∂W is "
                               "−(1/n) Σ_i g_i y_i a_j 1[⟨w_j, x_i⟩ > 0] x_i.",
                          success="Every step adds a combination of the training points to "
                                  "each w_j: GD never leaves their span.")


def first_step_margin(seed: int = 0, p: int = 100_000, n: int = 200, m: int = 200) -> float:
    """The median training margin y_i f(x_i) after ONE GD step from σ = 1e-6 at lr 16n/p on
    XOR data with ‖μ‖ = p^0.3 (measured with the experiment's own GD)."""
    from . import xor

    s = xor.xor_sample(n, 1, m, p, 0.1, seed)
    ip = s.inner_products(p ** 0.3)
    f64 = dict(dtype=torch.float64)
    gd = xor.SpanGD(ip["xx"][None], ip["wx"][None], s.label[:n][None],
                    torch.tensor([1e-6], **f64), torch.tensor([16.0 * n / p], **f64))
    gd.step()
    return float((s.label[:n] * gd.output(gd.pre(slice(0, n)))[0]).median())


def check_first_step_margin(answer, tolerance: float = 0.3) -> Check:
    """Exercise (XOR): predict the typical margin y_i f(x_i) of a training point after the first
    GD step (lr 16n/p, tiny init; p = 10⁵, n = m = 200). Right within ``tolerance`` of the
    measured median margin."""
    expected = first_step_margin()
    hint = ("Hint: at step 0, f ≈ 0 so every point pulls with sigmoid(0) = 1/2; w_j moves by "
            "(lr/2n)·a_j Σ y_i x_i over the points where neuron j was active (about half); "
            "⟨x_k, x_k⟩ ≈ p dominates ⟨w_j, x_k⟩, and a quarter of the m neurons (a_j y_k > 0, "
            "k active) count, each with a_j² = 1/m.")
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    if abs(value - expected) <= tolerance:
        return Check(True, f"✓ Right: the median margin after one step is {expected:.2f} (you "
                           f"said {value:g}); (m/4)·(1/m)·lr·p/(2n) = lr·p/(8n) = 2 at lr = "
                           f"16n/p. Every training point, flipped or not, is fitted by its own "
                           f"noise vector.", expected, tolerance)
    return Check(False, f"✗ Not quite: the median margin is not {value:g} (accepted: within "
                        f"±{tolerance:g}). {hint}", expected, tolerance)


__all__ += ["check_node_concentration", "check_backprop_gradient", "check_network_gradient",
            "check_first_step_margin", "first_step_margin"]

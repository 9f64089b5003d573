"""The implement-and-test checkers of chapter 1 accept the reference solution and reject
plausible wrong ones (a sign error, a missing rescale or normalisation, a float32-only
version, a missing guard, no max subtraction), with the failing case named; they never
raise."""

import pytest
import torch

from workbench.grokking import reference as R
from workbench.grokking.exercises import check_perp_grad, check_sc_fraction, check_stablemax

from exercise_checks import assert_right, assert_wrong


# ------------------------------------------------------------------ StableMax
def test_check_stablemax_accepts_the_reference_and_a_different_correct_form():
    assert_right(check_stablemax(R.stablemax))
    # softmax of sign(z)·log(1 + |z|) is the same function
    assert_right(check_stablemax(lambda z: torch.softmax(z.sign() * z.abs().log1p(), -1)))


def _s(x):
    return torch.where(x >= 0, x + 1, 1 / (1 - x.clamp(max=0)))


WRONG_STABLEMAX = {
    "softmax": (lambda z: torch.softmax(z, -1), "small logits"),
    "sign error in the negative branch":
        (lambda z: (lambda s: s / s.sum(-1, keepdim=True))(
            torch.where(z >= 0, z + 1, 1 / (1 + z))), "small logits"),
    "no normalisation": (lambda z: _s(z), "small logits"),
    "linear everywhere (x + 1 also for x < 0)":
        (lambda z: (z + 1) / (z + 1).sum(-1, keepdim=True), "small logits"),
    "float32 only": (lambda z: (lambda s: s / s.sum(-1, keepdim=True))(_s(z.float())),
                     "dtype"),
    "float32 inside, float64 out": (lambda z: R.stablemax(z.float()).double(), "small logits"),
}


@pytest.mark.parametrize("name", list(WRONG_STABLEMAX))
def test_check_stablemax_rejects(name):
    fn, where = WRONG_STABLEMAX[name]
    assert_wrong(check_stablemax(fn), where)


def test_check_stablemax_float32_fails_on_huge_logits_even_at_loose_precision():
    """Computing in float32 and rounding only at the end overflows on the huge logits."""
    def f32(z):
        out = R.stablemax(z.float()).double()
        return torch.where(torch.isfinite(out), R.stablemax(z), out)   # right except overflow
    assert_wrong(check_stablemax(f32), "huge logits", "non-finite")


def test_check_stablemax_never_raises():
    assert_wrong(check_stablemax(None), "no function")
    assert_wrong(check_stablemax(lambda z: 1 / 0), "ZeroDivisionError")
    assert_wrong(check_stablemax(lambda z: "probabilities"), "expected a tensor")
    assert_wrong(check_stablemax(lambda z: z[:, :2]), "shape")


# ------------------------------------------------------------------ ⊥Grad
def test_check_perp_grad_accepts_the_reference():
    assert_right(check_perp_grad(R.perp_grad))


def _perp(w, g):
    return g - (w * g).sum() / ((w * w).sum() + 1e-30) * w


WRONG_PERP = {
    "sign error": (lambda w, g: (lambda gp: gp * g.norm() / (gp.norm() + 1e-30))(
        g + (w * g).sum() / ((w * w).sum() + 1e-30) * w), "random weights"),
    "no rescale to ‖g‖": (_perp, "random weights"),
    "projection on the wrong vector": (lambda w, g: (lambda gp: gp * g.norm() / (
        gp.norm() + 1e-30))(g - (w * g).sum() / ((g * g).sum() + 1e-30) * g), "random weights"),
    "float32 only": (lambda w, g: R.perp_grad(w.float(), g.float()), "dtype"),
    "no guard on ‖g⊥‖": (lambda w, g: (lambda gp: gp * g.norm() / gp.norm())(_perp(w, g)),
                         "exactly along w"),
    "no guard on ⟨w, w⟩": (lambda w, g: (lambda gp: gp * g.norm() / (gp.norm() + 1e-30))(
        g - (w * g).sum() / (w * w).sum() * w), "zero weights"),
    "per-row instead of per-tensor projection": (lambda w, g: (lambda gp: gp * g.norm() / (
        gp.norm() + 1e-30))(g - (w * g).sum(-1, keepdim=True) / (
            (w * w).sum(-1, keepdim=True) + 1e-30) * w), "random weights"),
}


@pytest.mark.parametrize("name", list(WRONG_PERP))
def test_check_perp_grad_rejects(name):
    fn, where = WRONG_PERP[name]
    assert_wrong(check_perp_grad(fn), where)


# ------------------------------------------------------------------ the Softmax Collapse test
def test_check_sc_fraction_accepts_the_reference_and_a_tensor_or_float_answer():
    assert_right(check_sc_fraction(R.softmax_collapse_fraction))
    assert_right(check_sc_fraction(lambda z, dt: float(R.softmax_collapse_fraction(z, dt))))


WRONG_SC = {
    "always float64": (lambda z, dt: R.softmax_collapse_fraction(z, torch.float64), "float32"),
    "no max subtraction": (lambda z, dt: (
        torch.exp(z.to(dt)).sum(-1) * torch.exp(-z.to(dt).max(-1).values) == 1).double().mean(),
        "is wrong"),
    "a probability threshold instead of exactness": (lambda z, dt: (
        torch.softmax(z.to(dt), -1).max(-1).values > 0.999).double().mean(), "float32"),
    "counts rows, not the share": (lambda z, dt: (
        torch.exp(z.to(dt) - z.to(dt).max(-1, keepdim=True).values).sum(-1) == 1).sum(),
        "float32"),
}


@pytest.mark.parametrize("name", list(WRONG_SC))
def test_check_sc_fraction_rejects(name):
    fn, where = WRONG_SC[name]
    assert_wrong(check_sc_fraction(fn), where)

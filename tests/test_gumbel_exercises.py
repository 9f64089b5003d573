"""The Gumbel-Softmax exercises: each checker accepts the reference and rejects plausible
wrong solutions (a sign error, τ misused, a missing normalisation, overflow, …), and never
raises. ``check_gumbel_softmax`` is statistical: it is run under several global seeds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from workbench.gumbel import exercises as ex
from workbench.gumbel import gumbel_softmax
from workbench.gumbel.reference import gumbel_softmax_sample, straight_through


def _gumbel():
    return lambda shape: -torch.log(-torch.log(torch.rand(shape)))


WRONG_GUMBEL = {
    "noise with the wrong sign": lambda l, t: torch.softmax(
        (l + torch.log(-torch.log(torch.rand(l.shape)))) / t, -1),
    "τ ignored": lambda l, t: torch.softmax(l + _gumbel()(l.shape), -1),
    "τ multiplies": lambda l, t: torch.softmax((l + _gumbel()(l.shape)) * t, -1),
    "τ divides the logits only": lambda l, t: torch.softmax(l / t + _gumbel()(l.shape), -1),
    "no normalisation": lambda l, t: torch.exp((l + _gumbel()(l.shape)) / t),
    "uniform noise": lambda l, t: torch.softmax((l + torch.rand(l.shape)) / t, -1),
    "one noise vector for all rows": lambda l, t: torch.softmax(
        (l + _gumbel()(l.shape[-1:])) / t, -1),
    "naive softmax": lambda l, t: (lambda e: e / e.sum(-1, keepdim=True))(
        torch.exp((l + _gumbel()(l.shape)) / t)),
    "softmax over the rows": lambda l, t: torch.softmax((l + _gumbel()(l.shape)) / t, 0),
    "the probabilities, no noise": lambda l, t: torch.softmax(l, -1),
    "the first row's logits for every row": lambda l, t: torch.softmax(
        (l[:1] + _gumbel()(l.shape)) / t, -1),
}


@pytest.mark.parametrize("seed", range(5))
def test_check_gumbel_softmax_accepts_correct_samplers(seed):
    torch.manual_seed(seed)
    result = ex.check_gumbel_softmax(gumbel_softmax_sample)
    assert result and result.message.startswith("✓"), result.message
    assert ex.check_gumbel_softmax(lambda l, t: gumbel_softmax(l, t))
    assert ex.check_gumbel_softmax(lambda l, t: F.gumbel_softmax(l, tau=t))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", list(WRONG_GUMBEL))
def test_check_gumbel_softmax_rejects_mistakes(name, seed):
    torch.manual_seed(seed)
    result = ex.check_gumbel_softmax(WRONG_GUMBEL[name])
    assert not result and result.message.startswith("✗"), (name, result.message)


def test_check_gumbel_softmax_names_the_case():
    torch.manual_seed(0)
    assert "τ = 0.1" in ex.check_gumbel_softmax(WRONG_GUMBEL["τ multiplies"]).message
    assert "τ = 0.1" in ex.check_gumbel_softmax(WRONG_GUMBEL["τ ignored"]).message
    assert "τ = 0.1" in ex.check_gumbel_softmax(WRONG_GUMBEL["τ divides the logits only"]).message
    assert "two different rows" in ex.check_gumbel_softmax(
        WRONG_GUMBEL["the first row's logits for every row"]).message
    assert "overflow" in ex.check_gumbel_softmax(WRONG_GUMBEL["naive softmax"]).message


def test_check_straight_through():
    assert ex.check_straight_through(straight_through)
    assert ex.check_straight_through(
        lambda y: F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) + y - y.detach())
    wrong = {
        "hard only, no gradient": lambda y: F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype),
        "soft value": lambda y: y,
        "sign error": lambda y: F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) + y.detach() - y,
        "argmax over dim 1": lambda y: F.one_hot(y.argmax(1), y.shape[-1]).to(y.dtype)
        - y.detach() + y if y.dim() == 2 else F.one_hot(y.argmax(1), y.shape[-1])
        .transpose(1, 2)[..., : y.shape[-1]].to(y.dtype),
    }
    for name, fn in wrong.items():
        result = ex.check_straight_through(fn)
        assert not result and result.message.startswith("✗"), name
    assert "no gradient" in ex.check_straight_through(wrong["hard only, no gradient"]).message


def test_check_score_function():
    assert ex.check_score_function(ex.score_function)
    onehot = lambda z, K: F.one_hot(z, K).double()  # noqa: E731
    wrong = {
        "missing −π": lambda l, z, f: f[:, None] * onehot(z, l.shape[-1]),
        "sign error": lambda l, z, f: -ex.score_function(l, z, f),
        "log π for π": lambda l, z, f: f[:, None] * (onehot(z, l.shape[-1])
                                                    - torch.log_softmax(l, -1)),
        "naive softmax": lambda l, z, f: f[:, None] * (onehot(z, l.shape[-1])
                                                      - l.exp() / l.exp().sum(-1, keepdim=True)),
    }
    for name, fn in wrong.items():
        assert not ex.check_score_function(fn), name
    assert "huge logits" in ex.check_score_function(wrong["naive softmax"]).message


def test_checkers_never_raise():
    def boom(*args):
        raise ValueError("nope")

    for check in (ex.check_gumbel_softmax, ex.check_straight_through, ex.check_score_function):
        for fn in (None, "fn", boom, lambda *a: None, lambda *a: "text", lambda *a: [0.5]):
            result = check(fn)
            assert not result and result.message.startswith("✗")


def test_check_yourself_of_notebook_32():
    assert ex.check_soft_grad_mean(0) and ex.check_soft_grad_mean(0.005)
    for wrong in (1, 0.5, -0.57, None, "zero"):   # −0.577: −γ, the mean of −g itself
        assert not ex.check_soft_grad_mean(wrong)
    assert abs(ex.t0_agreement(5) - 0.2) < 0.005 and abs(ex.t0_agreement(4) - 0.25) < 0.005
    assert ex.check_t0_agreement(0.2) and ex.check_t0_agreement(0.25, vocab=4)
    for wrong in (1, 0.5, 0, None):
        assert not ex.check_t0_agreement(wrong)

"""The implement-and-test checkers of chapter 2 accept the reference solutions and reject
plausible wrong ones (a sign error, a missing ReLU or normalisation, column instead of row
norms, a missing guard, a float32-only version); the check-yourself ones accept the right
number only. None of them raises."""

import pytest
import torch

from workbench.superposition import reference as R
from workbench.superposition.exercises import (check_feature_dimensionality,
                                               check_model_forward, check_regime_slope,
                                               check_row_norm_decay)
from workbench.superposition.metrics import feature_dimensionality

from exercise_checks import assert_right, assert_wrong


# ------------------------------------------------------------------ the toy model
def test_check_model_forward_accepts_the_reference_model():
    def forward(x, W, b):
        model = R.LiuModel(W.shape[0], W.shape[1])
        with torch.no_grad():
            model.W.data, model.b.data = W, b
            return model(x)
    assert_right(check_model_forward(forward))
    assert_right(check_model_forward(lambda x, W, b: torch.clamp(x @ W @ W.T + b, min=0)))


WRONG_FORWARD = {
    "no ReLU": (lambda x, W, b: x @ W @ W.T + b, "20 features"),
    "ReLU before the bias": (lambda x, W, b: torch.relu(x @ W @ W.T) + b, "20 features"),
    "bias sign error": (lambda x, W, b: torch.relu(x @ W @ W.T - b), "20 features"),
    "Wᵀ W instead of W Wᵀ": (lambda x, W, b: torch.relu(x @ W.T @ W + b), "raised"),
    "float32 only": (lambda x, W, b: torch.relu(x.float() @ W.float() @ W.float().T + b.float()),
                     "dtype"),
}


@pytest.mark.parametrize("name", list(WRONG_FORWARD))
def test_check_model_forward_rejects(name):
    fn, where = WRONG_FORWARD[name]
    assert_wrong(check_model_forward(fn), where)


# ------------------------------------------------------------------ the ±γ rule
def _reference_rule(W, lr, gamma):
    out = W.clone()
    R.row_norm_decay_(out, lr, gamma)
    return out


def test_check_row_norm_decay_accepts_the_reference_and_an_in_place_version():
    assert_right(check_row_norm_decay(_reference_rule))

    def in_place(W, lr, gamma):
        R.row_norm_decay_(W, lr, gamma)
        return W
    assert_right(check_row_norm_decay(in_place))


def _rule(W, lr, gamma, dim=1, sign=1.0, guard=1e-12):
    if gamma >= 0:
        return W * (1 - lr * gamma)
    norm = W.norm(dim=dim, keepdim=True).clamp_min(guard) if guard else W.norm(dim=dim,
                                                                              keepdim=True)
    return W * (1 + sign * lr * gamma * (1 - 1 / norm))


WRONG_RULE = {
    "sign error": (lambda W, lr, g: _rule(W, lr, g, sign=-1.0), "norm 5"),
    "column norms instead of row norms": (lambda W, lr, g: _rule(W, lr, g, dim=0), "norm 5"),
    "γ < 0 treated as weight decay": (lambda W, lr, g: W * (1 - lr * g), "norm 5"),
    "missing the 1 −": (lambda W, lr, g: W * (1 - lr * g) if g >= 0 else
                        W + lr * g * W / W.norm(dim=1, keepdim=True), "norm 5"),
    "no guard for a zero row": (lambda W, lr, g: _rule(W, lr, g, guard=0), "zero row"),
    "float32 only": (lambda W, lr, g: _rule(W.float(), lr, g), "dtype"),
}


@pytest.mark.parametrize("name", list(WRONG_RULE))
def test_check_row_norm_decay_rejects(name):
    fn, where = WRONG_RULE[name]
    assert_wrong(check_row_norm_decay(fn), where)


# ------------------------------------------------------------------ feature dimensionality
def test_check_feature_dimensionality_accepts_the_reference():
    assert_right(check_feature_dimensionality(feature_dimensionality))


def _dims(W, normalise=True, include_self=True, power=2, guard=True):
    n = W.norm(dim=-1)
    Wn = W / (n.clamp_min(1e-12) if guard else n).unsqueeze(-1) if normalise else W
    proj = (Wn @ W.T).abs() ** power
    if not include_self:
        proj = proj - torch.diag(torch.diagonal(proj))
    return n ** 2 / (proj.sum(-1).clamp_min(1e-12) if guard else proj.sum(-1))


WRONG_DIMS = {
    "rows not normalised": (lambda W: _dims(W, normalise=False), "orthogonal"),
    "self term left out": (lambda W: _dims(W, include_self=False), "orthogonal"),
    "overlaps not squared": (lambda W: _dims(W, power=1), "orthogonal"),
    "no guard for a zero row": (lambda W: _dims(W, guard=False), "zero row"),
}


@pytest.mark.parametrize("name", list(WRONG_DIMS))
def test_check_feature_dimensionality_rejects(name):
    fn, where = WRONG_DIMS[name]
    assert_wrong(check_feature_dimensionality(fn), where)


# ------------------------------------------------------------------ Bahri's regimes
def test_check_regime_slope():
    assert_right(check_regime_slope(-0.5, "resolution, model", alpha_K=0.5))
    assert_right(check_regime_slope(-1, "variance, data", alpha_K=0.5))
    assert_wrong(check_regime_slope(0.5, "resolution, data", alpha_K=0.5), "negative")
    assert_wrong(check_regime_slope(-0.7, "resolution, data", alpha_K=0.5), "Not quite")
    assert_wrong(check_regime_slope(-0.5, "variance, width", alpha_K=0.5), "Hint")
    assert_wrong(check_regime_slope(None, "variance, width", alpha_K=0.5), "No numeric answer")
    assert_wrong(check_regime_slope(-1, "width", alpha_K=0.5), "regime must be")

"""Units of chapter 1: losses, metrics, ⊥Grad, datasets, models."""

import math

import pytest
import torch
import torch.nn.functional as F

from workbench.grokking import data as D
from workbench.grokking.losses import (log_stablemax, softmax_cross_entropy, stablemax,
                                       stablemax_cross_entropy)
from workbench.grokking.metrics import (fourier_power, key_frequencies, nlm_cosine,
                                        softmax_collapse_fraction, zero_loss_fraction)
from workbench.grokking.optim import PerpGrad, perp_grad_


def s_ref(x: float) -> float:
    return x + 1 if x >= 0 else 1 / (1 - x)


# ------------------------------------------------------------------ StableMax
@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0, 1e6, 1e150])
def test_stablemax_matches_definition(scale):
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(4, 7, generator=g, dtype=torch.float64) * scale)
    out = stablemax(z)
    for n in range(z.shape[0]):
        s = [s_ref(v) for v in z[n].tolist()]
        ref = [v / math.fsum(s) for v in s]
        assert torch.allclose(out[n], torch.tensor(ref, dtype=torch.float64), rtol=1e-12, atol=0)
        log_ref = [math.log(v) - math.log(math.fsum(s)) for v in s]
        assert torch.allclose(log_stablemax(z)[n], torch.tensor(log_ref, dtype=torch.float64),
                              rtol=1e-10, atol=1e-12)
    assert torch.isfinite(log_stablemax(z)).all()
    assert torch.allclose(out.sum(-1), torch.ones(4, dtype=torch.float64))


def test_stablemax_equals_softmax_of_signed_log():
    z = torch.linspace(-50, 50, 101, dtype=torch.float64).view(1, -1)
    assert torch.allclose(stablemax(z), torch.softmax(z.sign() * torch.log1p(z.abs()), -1))


def test_stablemax_large_logits_do_not_collapse_where_softmax_does():
    z = torch.tensor([[200.0, 0.0, -200.0]], dtype=torch.float64)
    assert torch.softmax(z.float(), -1)[0, 1] == 0  # exp(-200) underflows in float32
    p = stablemax(z)[0]
    assert p[1] > 0 and p[2] > 0                     # linear growth keeps mass on every class
    assert abs(p[1].item() - 1 / (201 + 1 + 1 / 201)) < 1e-15


def test_stablemax_gradients_finite_and_cross_entropy_value():
    z = torch.tensor([[1e8, -1e8, 0.0, 1.0]], dtype=torch.float32, requires_grad=True)
    loss = stablemax_cross_entropy(z, torch.tensor([2]))
    loss.backward()
    assert loss.dtype == torch.float64 and torch.isfinite(z.grad).all()
    s = [s_ref(v) for v in [1e8, -1e8, 0.0, 1.0]]
    assert loss.item() == pytest.approx(-math.log(s[2] / math.fsum(s)), rel=1e-9)


def test_softmax_cross_entropy_in_dtype_matches_torch():
    g = torch.Generator().manual_seed(1)
    z, y = torch.randn(16, 10, generator=g), torch.randint(0, 10, (16,), generator=g)
    assert torch.allclose(softmax_cross_entropy(z, y, torch.float64), F.cross_entropy(z.double(), y))
    assert softmax_cross_entropy(z, y, torch.float16).dtype == torch.float16


# ------------------------------------------------------------------ collapse metrics
def margin_logits(margin, n_classes=113, n=8):
    z = torch.zeros(n, n_classes)
    z[:, 0] = margin
    return z


def test_softmax_collapse_fraction_on_constructed_logits():
    assert softmax_collapse_fraction(margin_logits(30.0), torch.float32).item() == 1.0
    assert softmax_collapse_fraction(margin_logits(5.0), torch.float32).item() == 0.0
    # float16 collapses at a smaller margin than float64
    assert softmax_collapse_fraction(margin_logits(14.0), torch.float16).item() == 1.0
    assert softmax_collapse_fraction(margin_logits(14.0), torch.float64).item() == 0.0
    mixed = torch.cat([margin_logits(30.0, n=3), margin_logits(5.0, n=1)])
    assert softmax_collapse_fraction(mixed, torch.float32).item() == 0.75
    # instance axis: one value per instance
    both = torch.stack([margin_logits(30.0), margin_logits(5.0)])
    assert softmax_collapse_fraction(both, torch.float32).tolist() == [1.0, 0.0]


def test_zero_loss_fraction():
    z = torch.cat([margin_logits(120.0, n_classes=5, n=2), margin_logits(2.0, n_classes=5, n=2)])
    loss = softmax_cross_entropy(z, torch.zeros(4, dtype=torch.long), torch.float32,
                                 reduction="none")
    assert zero_loss_fraction(loss).item() == 0.5


def test_nlm_cosine_is_one_along_the_weights():
    w = [torch.randn(2, 3, 4), torch.randn(2, 5)]
    assert torch.allclose(nlm_cosine([-2 * t for t in w], w), torch.ones(2))
    assert torch.allclose(nlm_cosine([3 * t for t in w], w), -torch.ones(2))


def test_fourier_power_finds_planted_frequencies():
    p, d = 59, 16
    a = torch.arange(p, dtype=torch.float64).view(-1, 1)
    emb = torch.cat([torch.cos(2 * math.pi * 7 * a / p).repeat(1, d // 2),
                     torch.sin(2 * math.pi * 13 * a / p).repeat(1, d // 2)], 1)
    power = fourier_power(emb)
    assert sorted(key_frequencies(power, 2)) == [7, 13]
    assert power.sum().item() == pytest.approx(1.0)


# ------------------------------------------------------------------ ⊥Grad
def test_perp_grad_orthogonal_with_gradient_norm():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(6, 5))
    g = torch.randn(6, 5) + 0.7 * w.detach()
    w.grad = g.clone()
    perp_grad_([w])
    assert abs((w.grad * w.detach()).sum().item()) < 1e-5
    assert w.grad.norm().item() == pytest.approx(g.norm().item(), rel=1e-6)


def test_perp_grad_per_instance_and_masked():
    torch.manual_seed(1)
    w = torch.nn.Parameter(torch.randn(3, 4, 5))
    g = torch.randn(3, 4, 5)
    w.grad = g.clone()
    perp_grad_([w], instance_axis=True, mask=torch.tensor([True, False, True]))
    dots = (w.grad * w.detach()).flatten(1).sum(1)
    assert abs(dots[0].item()) < 1e-5 and abs(dots[2].item()) < 1e-5
    assert torch.equal(w.grad[1], g[1])  # masked-out instance untouched
    assert torch.allclose(w.grad.flatten(1).norm(dim=1), g.flatten(1).norm(dim=1))


def test_perp_grad_wraps_a_torch_optimizer():
    torch.manual_seed(2)
    w = torch.nn.Parameter(torch.randn(10))
    opt = PerpGrad(torch.optim.SGD([w], lr=0.1))
    before = w.detach().clone()
    w.grad = before.clone()            # gradient exactly along w → ⊥Grad is ~0 after projection
    opt.step()
    assert torch.allclose(w.detach(), before, atol=1e-6)


# ------------------------------------------------------------------ data
@pytest.mark.parametrize("op,fn", [("add", lambda a, b, p: (a + b) % p),
                                   ("sub", lambda a, b, p: (a - b) % p),
                                   ("mul", lambda a, b, p: (a * b) % p)])
def test_modular_tables(op, fn):
    ds = D.modular_arithmetic(7, op)
    assert len(ds) == 49
    for (a, b), y in zip(ds.tokens.tolist(), ds.labels.tolist()):
        assert y == fn(a, b, 7)


def test_division_table_and_prime_check():
    ds = D.modular_arithmetic(11, "div")
    assert len(ds) == 110
    for (a, b), y in zip(ds.tokens.tolist(), ds.labels.tolist()):
        assert (y * b) % 11 == a
    with pytest.raises(ValueError, match="prime"):
        D.modular_arithmetic(12, "div")


def test_split_is_seeded_disjoint_and_complete():
    tr, te = D.split(100, 0.4, seed=3)
    tr2, _ = D.split(100, 0.4, seed=3)
    tr3, _ = D.split(100, 0.4, seed=4)
    assert len(tr) == 40 and len(te) == 60
    assert torch.equal(tr, tr2) and not torch.equal(tr, tr3)
    assert sorted(torch.cat([tr, te]).tolist()) == list(range(100))


def test_sparse_parity_labels():
    ds = D.sparse_parity(k=3, n_noise=5, n_samples=200, seed=0)
    assert ds.tokens.shape == (200, 8) and ds.n_classes == 2
    assert torch.equal(ds.labels, ds.tokens[:, :3].sum(1) % 2)
    assert 0.3 < ds.labels.float().mean() < 0.7


def test_mlp_first_layer_gather_equals_one_hot_matmul():
    from workbench.grokking.models import MLP
    m = MLP([0, 1], n_positions=2, vocab=7, n_out=7, width=8, depth=1)
    tokens = torch.randint(0, 7, (2, 5, 2))
    onehot = torch.cat([F.one_hot(tokens[..., 0], 7), F.one_hot(tokens[..., 1], 7)], -1).float()
    h = torch.bmm(onehot, m.params["embed"])
    ref = torch.bmm(torch.relu(h), m.params["out"])
    assert torch.allclose(m(tokens), ref, atol=1e-6)
    # gradient of the gather equals the matmul's
    m(tokens).sum().backward()
    g1 = m.params["embed"].grad.clone()
    w = m.params["embed"].detach().clone().requires_grad_()
    torch.bmm(torch.relu(torch.bmm(onehot, w)), m.params["out"].detach()).sum().backward()
    assert torch.allclose(g1, w.grad, atol=1e-5)


def test_mlp_init_matches_torch_linear_bound():
    from workbench.grokking.models import MLP
    m = MLP([0], n_positions=2, vocab=113, n_out=113, width=200, depth=2)
    w = m.params["embed"]
    assert w.shape == (1, 226, 200)
    assert w.abs().max() <= 1 / math.sqrt(226) and w.abs().max() > 0.9 / math.sqrt(226)

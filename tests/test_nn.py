"""nn.Module wrappers: same values and gradients as the functional ops and the float64 reference,
options checked at construction, repr, torch.compile, and MMDLoss over fastgan.mmd."""
import pytest
import torch

import fastgan
from fastgan import nn as fnn
from fastgan.losses import discriminator_loss, generator_loss
from fastgan.reference import discriminator_loss_reference, generator_loss_reference

from helpers import TOL, assert_rel, leaf64


@pytest.fixture(params=["torch", "triton"])
def backend(request):
    with fastgan.backend(request.param):
        yield request.param


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss,kw", [("bce", dict(real_label=0.9, fake_label=0.05)), ("hinge", {}),
                                     ("wasserstein", {})])
def test_discriminator_module_matches_functional_and_reference(device, backend, loss, kw, reduction):
    crit = fnn.DiscriminatorLoss(loss, reduction=reduction, **kw)
    real = (torch.randn(33, 1, device=device) * 3).requires_grad_()
    fake = (torch.randn(2, 1, 3, 5, device=device) * 3).transpose(2, 3).requires_grad_()
    out = crit(real, fake)
    same = discriminator_loss(real, fake, loss=loss, reduction=reduction, **kw)
    r64 = leaf64(real)
    f64 = leaf64(fake)
    ref = discriminator_loss_reference(r64, f64, loss=loss, reduction=reduction, **kw)
    if reduction == "none":
        for o, s, r in zip(out, same, ref):
            assert torch.equal(o, s)
            assert_rel(o, r, TOL[torch.float32]["rtol"])
        (out[0].sum() - 0.5 * out[1].sum()).backward()
        (ref[0].sum() - 0.5 * ref[1].sum()).backward()
    else:
        assert torch.equal(out, same)
        assert_rel(out, ref, TOL[torch.float32]["rtol"])
        (3 * out).backward()
        (3 * ref).backward()
    assert_rel(real.grad, r64.grad, TOL[torch.float32]["rtol"], "d real")
    assert_rel(fake.grad, f64.grad, TOL[torch.float32]["rtol"], "d fake")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss,saturating", [("bce", False), ("bce", True), ("hinge", False),
                                             ("wasserstein", False)])
def test_generator_module_matches_functional_and_reference(device, backend, loss, saturating, reduction):
    crit = fnn.GeneratorLoss(loss, saturating=saturating, reduction=reduction)
    fake = (torch.randn(21, 1, device=device) * 3).requires_grad_()
    out = crit(fake)
    assert torch.equal(out, generator_loss(fake, loss=loss, saturating=saturating, reduction=reduction))
    f64 = leaf64(fake)
    ref = generator_loss_reference(f64, loss=loss, saturating=saturating, reduction=reduction)
    assert_rel(out, ref, TOL[torch.float32]["rtol"])
    g = torch.rand(out.shape) + 0.5
    out.backward(g.to(device))
    ref.backward(g.double())
    assert_rel(fake.grad, f64.grad, TOL[torch.float32]["rtol"], "d fake")


def test_modules_check_options_at_construction():
    with pytest.raises(ValueError, match="loss must be one of"):
        fnn.DiscriminatorLoss("minimax")
    with pytest.raises(ValueError, match="reduction must be one of"):
        fnn.GeneratorLoss(reduction="batchmean")
    with pytest.raises(ValueError, match=r"real_label must be in \[0, 1\]"):
        fnn.DiscriminatorLoss(real_label=1.1)
    with pytest.raises(ValueError, match="apply to loss='bce' only"):
        fnn.DiscriminatorLoss("wasserstein", fake_label=0.1)
    with pytest.raises(TypeError, match="saturating must be a bool"):
        fnn.GeneratorLoss(saturating="yes")
    with pytest.raises(ValueError, match="saturating=True applies to loss='bce' only"):
        fnn.GeneratorLoss("hinge", saturating=True)
    with pytest.raises(ValueError, match="fake_logits is empty"):
        fnn.GeneratorLoss()(torch.empty(0))


def test_modules_repr_and_state():
    d = fnn.DiscriminatorLoss(real_label=0.9)
    g = fnn.GeneratorLoss("bce", saturating=True, reduction="sum")
    assert repr(d) == "DiscriminatorLoss(loss='bce', reduction='mean', real_label=0.9, fake_label=0.0)"
    assert repr(g) == "GeneratorLoss(loss='bce', reduction='sum', saturating=True)"
    assert repr(fnn.DiscriminatorLoss("hinge")) == "DiscriminatorLoss(loss='hinge', reduction='mean')"
    for m in (d, g, fnn.MMDLoss(bandwidth=2.0)):
        assert list(m.parameters()) == [] and m.state_dict() == {}


def test_gan_step_with_modules_compiles_fullgraph():
    """A discriminator + generator step on tiny nets, eager vs torch.compile(fullgraph=True)."""
    torch.manual_seed(3)
    gen, disc = torch.nn.Linear(4, 3), torch.nn.Linear(3, 1)
    d_crit, g_crit = fnn.DiscriminatorLoss(real_label=0.9), fnn.GeneratorLoss()

    def step(x, z):
        fake = gen(z)
        d = d_crit(disc(x), disc(fake.detach()))
        g = g_crit(disc(fake))
        return d, g

    x, z = torch.randn(9, 3), torch.randn(7, 4)
    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    results = []
    for fn in (step, compiled):
        gen.zero_grad(set_to_none=True)
        disc.zero_grad(set_to_none=True)
        d, g = fn(x, z)
        (d + g).backward()
        results.append((d.detach(), g.detach(), gen.weight.grad.clone(), disc.weight.grad.clone()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_mmd_loss_module():
    mmd_ops = pytest.importorskip("fastgan.ops.mmd", reason="the MMD op is not in this tree yet")
    x = torch.randn(12, 3, requires_grad=True)
    y = torch.randn(10, 3) + 0.5
    crit = fnn.MMDLoss(kernel="gaussian", bandwidth=[1.0, 2.0], estimator="biased")
    assert "bandwidth=[1.0, 2.0]" in repr(crit)
    out = crit(x, y)
    expect = mmd_ops.mmd(x, y, kernel="gaussian", bandwidth=[1.0, 2.0], estimator="biased")
    assert torch.equal(out, expect)
    out.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises((TypeError, ValueError), match="kernel"):
        fnn.MMDLoss(kernel="no-such-kernel")(x, y)

"""The GAN toolkit: conv models, spectral norm, R1 / WGAN-GP, EMA, DiffAugment, packing and
gradient accumulation, each against a plain-PyTorch formulation written here."""
import math

import pytest
import torch
from torch import nn

import fastgan
from fastgan.train import augment, batching, conv, ema, regularizers


# ---- models ------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
    g = conv.dcgan_generator(8, (channels, size, size), width=4)
    d = conv.dcgan_discriminator((channels, size, size), width=4)
    x = g(torch.randn(2, 8))
    assert x.shape == (2, channels, size, size)
    assert x.abs().max() <= 1
    assert d(x).shape == (2, 1)
    # flat rows, as a fastgan Dataset gives them, are accepted
    assert torch.equal(d.eval()(x.reshape(2, -1)), d(x))


def test_dcgan_pack_and_features():
    d = conv.dcgan_discriminator((3, 16, 16), width=4, out_dim=5, norm="none", pack=2)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    x = torch.randn(6, 3, 16, 16)
    assert d(batching.pack(x, 2)).shape == (3, 5)
    with pytest.raises(ValueError, match=r"expected images \(B, 6, 16, 16\) or flat rows "
                                         r"\(B, 1536\), got shape \(6, 3, 16, 16\)"):
        d(x)


def test_resnet_shapes():
    for c in (1, 3):
        g = conv.resnet_generator(16, (c, 32, 32), width=8)
        d = regularizers.spectral_norm(conv.resnet_discriminator((c, 32, 32), width=8, out_dim=3))
        x = g(torch.randn(3, 16))
        assert x.shape == (3, c, 32, 32)
        assert d(x).shape == (3, 3)
    with pytest.raises(ValueError, match=r"a size in \[32\], got 64×64"):
        conv.resnet_generator(16, (3, 64, 64))


@pytest.mark.parametrize("shape,msg", [
    ((3, 24, 24), r"a size in \[16, 32, 64, 128\], got 24×24"),
    ((3, 32, 16), "must be square"),
    ((2, 32, 32), "channels must be 1 or 3, got 2"),
    ((32, 32), r"must be \(channels, height, width\)"),
])
def test_model_bad_image_shape(shape, msg):
    with pytest.raises(ValueError, match=msg):
        conv.dcgan_generator(8, shape)
    with pytest.raises(ValueError, match=msg):
        conv.dcgan_discriminator(shape)


def test_model_bad_arguments():
    with pytest.raises(ValueError, match="width must be a positive int, got 0"):
        conv.dcgan_generator(8, (3, 16, 16), width=0)
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        conv.resnet_generator(1.5)
    with pytest.raises(ValueError, match="norm must be 'batch' or 'none', got 'layer'"):
        conv.dcgan_discriminator((3, 16, 16), norm="layer")
    with pytest.raises(ValueError, match=r"z must be \(B, 8\), got shape \(2, 7\)"):
        conv.dcgan_generator(8, (3, 16, 16), width=4)(torch.randn(2, 7))


def test_init_from_a_fastgan_generator_is_reproducible():
    a = conv.dcgan_generator(8, (3, 16, 16), width=4, generator=fastgan.Generator(3))
    b = conv.dcgan_generator(8, (3, 16, 16), width=4, generator=fastgan.Generator(3))
    c = conv.dcgan_generator(8, (3, 16, 16), width=4, generator=fastgan.Generator(4))
    for (n, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q), n
        if p.dim() > 1:
            assert not torch.equal(p, r)
            assert abs(p.std().item() - 0.02) < 0.01  # DCGAN's N(0, 0.02²)
    w = conv.resnet_discriminator(width=8, generator=fastgan.Generator(0)).linear.weight
    bound = math.sqrt(6 / (8 + 1))
    assert w.abs().max() <= bound and w.abs().max() > bound / 2  # Xavier-uniform


# ---- spectral norm -----------------------------------------------------------------------

def test_spectral_norm_wraps_every_layer_and_normalises_it():
    torch.manual_seed(1)
    d = nn.Sequential(nn.Conv2d(3, 6, 3), nn.LeakyReLU(0.2), nn.ConvTranspose2d(6, 4, 3),
                      nn.Flatten(), nn.Linear(4 * 8 * 8, 1))
    with torch.no_grad():
        for p in d.parameters():
            p.mul_(5)  # spectral norms well away from 1
    regularizers.spectral_norm(d, generator=fastgan.Generator(0))
    x = torch.randn(2, 3, 8, 8)
    for _ in range(30):  # one power iteration per training-mode forward
        d(x)
    layers = [d[0], d[2], d[4]]
    for layer in layers:
        assert torch.nn.utils.parametrize.is_parametrized(layer, "weight")
        w = layer.weight.detach()
        # a ConvTranspose's matrix has the output channels (dim 1) as rows
        mat = (w.transpose(0, 1) if isinstance(layer, nn.ConvTranspose2d) else w).flatten(1)
        sigma = torch.linalg.matrix_norm(mat.double(), ord=2).item()
        assert abs(sigma - 1) < 1e-3, (layer, sigma)
        raw = layer.parametrizations.weight.original.detach()
        raw = (raw.transpose(0, 1) if isinstance(layer, nn.ConvTranspose2d) else raw).flatten(1)
        assert torch.linalg.matrix_norm(raw.double(), ord=2).item() > 2
    # the power-iteration vectors are state: in the state dict, and reproducible from the seed
    keys = d.state_dict().keys()
    assert "0.parametrizations.weight.0._u" in keys and "4.parametrizations.weight.0._v" in keys
    def u_of(seed):
        torch.manual_seed(0)
        layer = nn.Linear(5, 3)
        torch.manual_seed(seed)  # torch's RNG must not matter when a generator is given
        return regularizers.spectral_norm(layer, generator=fastgan.Generator(seed % 2))\
            .parametrizations.weight[0]._u

    assert torch.equal(u_of(10), u_of(20)) and not torch.equal(u_of(10), u_of(11))
    regularizers.spectral_norm(d)  # already wrapped: left as is
    assert len(d[0].parametrizations.weight) == 1
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        regularizers.spectral_norm("D")


# ---- R1 and WGAN-GP ----------------------------------------------------------------------

def _smooth_d():
    """A small D with curvature in x (tanh), so the penalties' parameter gradients involve
    genuine second derivatives."""
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _conv_d():
    torch.manual_seed(3)
    return conv.dcgan_discriminator((1, 16, 16), width=2, norm="none").double()


def _per_sample_grad_norms2(d, xs):
    """‖∇_x D(x)‖² sample by sample, each by its own autograd call."""
    out = []
    for x in xs:
        x = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(d(x.unsqueeze(0)).sum(), x, create_graph=True)
        out.append((g * g).sum())
    return torch.stack(out)


def _param_grads(d, loss):
    # the last bias does not change ∇_x D: its gradient is zero, not missing
    return torch.autograd.grad(loss, list(d.parameters()), allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("make_d,shape", [(_smooth_d, (7, 3)), (_conv_d, (3, 1, 16, 16))])
def test_r1_value_and_parameter_gradients(make_d, shape):
    d = make_d()
    real = torch.randn(*shape, dtype=torch.float64)
    gamma = 3.5
    ref = gamma / 2 * _per_sample_grad_norms2(d, real).mean()
    got = regularizers.r1_penalty(d, real, gamma)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(_param_grads(d, got), _param_grads(d, ref)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert any(g.abs().sum() > 0 for g in _param_grads(d, regularizers.r1_penalty(d, real, gamma)))


def test_lazy_r1_every_k_scaled_by_k_and_its_state():
    d = _smooth_d()
    real = torch.randn(5, 3, dtype=torch.float64)
    full = regularizers.r1_penalty(d, real, 2.0)
    r1 = regularizers.R1Penalty(gamma=2.0, every=3)
    values = [r1(d, real) for _ in range(5)]
    for i, v in enumerate(values):
        expected = 3 * full if i % 3 == 0 else torch.zeros((), dtype=torch.float64)
        torch.testing.assert_close(v, expected.detach() if i % 3 else expected)
    state = r1.state_dict()
    resumed = regularizers.R1Penalty(gamma=2.0, every=3)
    resumed.load_state_dict(state)
    assert resumed.calls == 5 and not resumed.due
    resumed(d, real)
    assert resumed.due  # call 6 is due, as it would have been without the interruption
    with pytest.raises(ValueError, match="R1Penalty state is for gamma=2.0, every=3"):
        regularizers.R1Penalty(gamma=1.0, every=3).load_state_dict(state)
    with pytest.raises(ValueError, match="every must be a positive int, got 0"):
        regularizers.R1Penalty(every=0)
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        regularizers.r1_penalty(d, real, -1.0)


@pytest.mark.parametrize("make_d,shape", [(_smooth_d, (6, 3)), (_conv_d, (3, 1, 16, 16))])
def test_gradient_penalty_value_and_parameter_gradients(make_d, shape):
    d = make_d()
    real = torch.randn(*shape, dtype=torch.float64)
    fake = torch.randn(*shape, dtype=torch.float64)
    g = fastgan.Generator(11)
    got = regularizers.gradient_penalty(d, real, fake, 4.0, generator=g)
    assert g.get_offset() == math.ceil(shape[0] / 4)  # one uniform per sample
    eps = fastgan.rand(shape[0], generator=fastgan.Generator(11)).double()
    terms = []
    for e, r, f in zip(eps, real, fake):
        x = (e * r + (1 - e) * f).requires_grad_(True)
        (grad,) = torch.autograd.grad(d(x.unsqueeze(0)).sum(), x, create_graph=True)
        terms.append((grad.pow(2).sum().sqrt() - 1) ** 2)
    ref = 4.0 * torch.stack(terms).mean()
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(_param_grads(d, got), _param_grads(d, ref)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("which", ["r1", "gp"])
def test_penalty_gradients_through_a_spectrally_normalised_conv_d_match_finite_differences(which):
    torch.manual_seed(6)
    d = regularizers.spectral_norm(conv.dcgan_discriminator((1, 16, 16), width=2, norm="none"))
    d = d.double().eval()  # eval: u, v stay fixed, so the penalty is a function of the weights
    real = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    fake = torch.randn(3, 1, 16, 16, dtype=torch.float64)

    def penalty():
        if which == "r1":
            return regularizers.r1_penalty(d, real, 2.0)
        return regularizers.gradient_penalty(d, real, fake, 3.0, generator=fastgan.Generator(2))

    w = d.net[2].parametrizations.weight.original      # a normalised conv in the middle
    (grad,) = torch.autograd.grad(penalty(), w)
    h = 1e-6
    for flat in (0, 7, w.numel() - 1):
        idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), w.shape))
        values = []
        for step in (h, -2 * h, h):  # up, down, back
            with torch.no_grad():
                w[idx] += step
            values.append(penalty().item())
        up, down = values[0], values[1]
        assert abs((up - down) / (2 * h) - grad[idx].item()) <= 1e-5 * (1 + abs(grad[idx].item()))


def test_penalty_errors():
    d = _smooth_d()
    x = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"real and fake must have one shape, got \(4, 3\) and \(5, 3\)"):
        regularizers.gradient_penalty(d, x, torch.randn(5, 3, dtype=torch.float64))
    two = nn.Linear(3, 2).double()
    with pytest.raises(ValueError, match=r"one score per sample \(4,\) or \(4, 1\), got \(4, 2\)"):
        regularizers.r1_penalty(two, x)
    with pytest.raises(TypeError, match="real must be a floating-point tensor"):
        regularizers.r1_penalty(d, torch.ones(4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
        regularizers.gradient_penalty(d, x, x, float("nan"))


# ---- EMA ---------------------------------------------------------------------------------

def _bn_model():
    torch.manual_seed(4)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_ema_weights_follow_the_hand_loop_and_buffers_are_copied():
    model = _bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    decay = 0.8
    e = ema.EMA(model, decay=decay)
    hand = {k: v.detach().double().clone() for k, v in model.named_parameters()}
    for _ in range(5):
        opt.zero_grad()
        model(torch.randn(8, 3)).pow(2).mean().backward()
        opt.step()
        e.update(model)
        for k, v in model.named_parameters():
            hand[k] = decay * hand[k] + (1 - decay) * v.detach().double()
    assert e.num_updates == 5
    for k, v in e.module.named_parameters():
        torch.testing.assert_close(v.double(), hand[k], rtol=1e-6, atol=1e-7)
        assert not v.requires_grad
    for (k, b), (_, mb) in zip(e.module.named_buffers(), model.named_buffers()):
        assert torch.equal(b, mb), k
    assert not e.module.training
    # the EMA copy differs from the model (it lags) and calling it runs the copy
    assert not torch.equal(e.module[0].weight, model[0].weight)
    z = torch.randn(3, 3)
    assert torch.equal(e(z), e.module(z))


def test_ema_state_dict_round_trip_continues_exactly():
    model = _bn_model()
    e = ema.EMA(model, decay=0.9)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    e.update(model)
    other = ema.EMA(_bn_model(), decay=0.9)
    other.load_state_dict(e.state_dict())
    assert other.num_updates == 1
    with torch.no_grad():
        model[3].bias.sub_(0.5)
    e.update(model)
    other.update(model)
    for a, b in zip(e.module.state_dict().values(), other.module.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="EMA state has decay=0.9, this EMA decay=0.5"):
        ema.EMA(model, decay=0.5).load_state_dict(e.state_dict())
    with pytest.raises(ValueError, match=r"decay must be a number in \[0, 1\), got 1"):
        ema.EMA(model, decay=1)
    with pytest.raises(ValueError, match="do not match the EMA copy"):
        e.update(nn.Linear(3, 2))


# ---- DiffAugment -------------------------------------------------------------------------

def _images(b=4, c=3, h=8, w=8):
    return torch.rand(b, c, h, w, dtype=torch.float64) * 2 - 1


def test_color_transforms_match_their_formulas():
    x = _images()
    u = torch.rand(4, dtype=torch.float64)
    got_b, got_s, got_c = augment.brightness(x, u), augment.saturation(x, u), augment.contrast(x, u)
    for i in range(4):
        torch.testing.assert_close(got_b[i], x[i] + u[i] - 0.5)
        per_pixel_mean = sum(x[i, ch] for ch in range(3)) / 3
        torch.testing.assert_close(got_s[i], (x[i] - per_pixel_mean) * 2 * u[i] + per_pixel_mean)
        m = x[i].sum() / x[i].numel()
        torch.testing.assert_close(got_c[i], (x[i] - m) * (u[i] + 0.5) + m)


def _shift(u, s):
    return -s + min(int(u * (2 * s + 1)), 2 * s)


def test_translation_matches_a_pixel_loop():
    x = _images(b=5, h=8, w=12)
    uy, ux = torch.tensor([0.0, 0.99, 0.5, 0.3, 0.7]), torch.tensor([0.99, 0.0, 0.5, 0.8, 0.1])
    got = augment.translation(x, uy, ux, ratio=0.25)
    sy, sx = 2, 3
    for b in range(5):
        ty, tx = _shift(uy[b].item(), sy), _shift(ux[b].item(), sx)
        for i in range(8):
            for j in range(12):
                si, sj = i + ty, j + tx
                want = x[b, :, si, sj] if 0 <= si < 8 and 0 <= sj < 12 else torch.zeros(3, dtype=x.dtype)
                assert torch.equal(got[b, :, i, j], want), (b, i, j)
    assert torch.equal(augment.translation(x, uy, ux, ratio=0.0), x)


def test_cutout_matches_a_pixel_loop():
    x = _images(b=4, h=8, w=7)
    uy, ux = torch.tensor([0.0, 0.99, 0.45, 0.6]), torch.tensor([0.99, 0.0, 0.5, 0.2])
    got = augment.cutout(x, uy, ux, ratio=0.5)
    kh, kw = 4, 4  # round(0.5·8), round(0.5·7)
    for b in range(4):
        oy = min(int(uy[b] * (8 + 1 - kh % 2)), 8 - kh % 2) - kh // 2
        ox = min(int(ux[b] * (7 + 1 - kw % 2)), 7 - kw % 2) - kw // 2
        for i in range(8):
            for j in range(7):
                cut = oy <= i < oy + kh and ox <= j < ox + kw
                assert torch.equal(got[b, :, i, j], 0 * x[b, :, i, j] if cut else x[b, :, i, j])
    assert (got == 0).any()


def test_policy_draws_from_the_generator_in_the_documented_order():
    x = _images(b=6).float()
    got = augment.DiffAugment("translation,cutout,color")(x, generator=fastgan.Generator(9))
    g = fastgan.Generator(9)
    u = [fastgan.rand(6, generator=g) for _ in range(7)]
    y = augment.translation(x, u[0], u[1], 0.125)
    y = augment.cutout(y, u[2], u[3], 0.5)
    y = augment.contrast(augment.saturation(augment.brightness(y, u[4]), u[5]), u[6])
    assert torch.equal(got, y)
    # flat rows in, flat rows out
    flat = augment.DiffAugment("translation,cutout,color", image_shape=(3, 8, 8))(
        x.reshape(6, -1), generator=fastgan.Generator(9))
    assert torch.equal(flat, y.reshape(6, -1))
    assert torch.equal(augment.DiffAugment("")(x, generator=g), x)


def test_augment_is_differentiable():
    x = _images(b=2, c=2, h=4, w=4).requires_grad_(True)
    aug = augment.DiffAugment("color,translation,cutout", translation_ratio=0.25)

    def f(t):
        return aug(t, generator=fastgan.Generator(1))

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def test_augment_errors():
    with pytest.raises(ValueError, match="unknown augmentation 'flip' in policy 'color,flip'; "
                                         "choose from color, translation, cutout"):
        augment.DiffAugment("color,flip")
    with pytest.raises(ValueError, match=r"cutout_ratio must be a number in \[0, 1\]"):
        augment.DiffAugment(cutout_ratio=2)
    with pytest.raises(ValueError, match=r"x must be images \(B, C, H, W\), got shape \(4, 5\)"):
        augment.DiffAugment()(torch.randn(4, 5))
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        augment.DiffAugment()(torch.ones(2, 3, 4, 4, dtype=torch.long))


# ---- packing and accumulation ------------------------------------------------------------

def test_pack_concatenates_consecutive_samples():
    x = torch.randn(6, 5)
    p = batching.pack(x, 3)
    assert p.shape == (2, 15)
    for gi in range(2):
        assert torch.equal(p[gi], torch.cat([x[gi * 3 + j] for j in range(3)]))
    imgs = torch.randn(4, 3, 2, 2)
    pi = batching.pack(imgs, 2)
    assert pi.shape == (2, 6, 2, 2)
    assert torch.equal(pi[1, 3:], imgs[3]) and torch.equal(pi[1, :3], imgs[2])
    assert torch.equal(batching.pack(imgs.reshape(4, -1), 2), pi.reshape(2, -1))
    assert batching.pack(x, 1) is x
    assert batching.pack(torch.arange(4.0), 2).shape == (2, 2)
    with pytest.raises(ValueError, match="the batch size 6 is not a multiple of the pack size m=4"):
        batching.pack(x, 4)
    with pytest.raises(ValueError, match="m must be a positive int, got 0"):
        batching.pack(x, 0)


def test_accumulation_equals_the_big_batch():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randn(10, 1, dtype=torch.float64)

    def loss_fn(xb, yb):
        return (model(xb) - yb).pow(2).mean()

    big = loss_fn(x, y)
    ref = torch.autograd.grad(big, list(model.parameters()))
    weights = [w for w, *_ in batching.micro_batches(x, y, k=3)]
    assert weights == [4 / 10, 3 / 10, 3 / 10]
    total = batching.accumulate(loss_fn, x, y, k=3)
    torch.testing.assert_close(total, big.detach())
    for p, r in zip(model.parameters(), ref):
        torch.testing.assert_close(p.grad, r, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="k=11 micro-batches need a batch of at least k samples, got B=10"):
        list(batching.micro_batches(x, k=11))
    with pytest.raises(ValueError, match="the same batch size"):
        list(batching.micro_batches(x, y[:5], k=2))

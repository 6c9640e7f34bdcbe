"""Convolutional generators and discriminators for images: DCGAN and SNGAN-style ResNets.

Generators map z (B, latent_dim) to images (B, C, H, W) in [-1, 1] (a final tanh, the range
of an image folder and of ``shapes``). Discriminators take images (B, C, H, W), or the flat
(B, C·H·W) rows a :class:`fastgan.data.Dataset` gives, and return (B, out_dim) scores
(``out_dim > 1`` makes them the feature network of an MMD-GAN). ``pack=m`` makes a
discriminator take m·C input channels for PacGAN (see :func:`fastgan.train.batching.pack`).

Initial weights: with ``generator=`` (a :class:`fastgan.Generator`) they are drawn from the
fastgan stream, so a model is the same on every machine for the same seed; without it
DCGAN uses torch's global RNG for its N(0, 0.02) initialisation and the ResNets PyTorch's
defaults.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import random as _random

__all__ = ["dcgan_generator", "dcgan_discriminator", "resnet_generator", "resnet_discriminator",
           "DCGANGenerator", "DCGANDiscriminator", "ResNetGenerator", "ResNetDiscriminator"]


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _image_shape(image_shape, sizes) -> tuple[int, int, int]:
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list, torch.Size)) else None
    if shape is None or len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool)
                                                   for s in shape):
        raise ValueError(f"image_shape must be (channels, height, width), got {image_shape!r}")
    c, h, w = shape
    if c not in (1, 3):
        raise ValueError(f"image_shape channels must be 1 or 3, got {c}")
    if h != w or h not in sizes:
        raise ValueError(f"image_shape must be square with a size in {sorted(sizes)}, "
                         f"got {h}×{w}")
    return c, h, w


def _check_norm(norm: str) -> str:
    if norm not in ("batch", "none"):
        raise ValueError(f"norm must be 'batch' or 'none', got {norm!r}")
    return norm


def _as_images(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    if x.dim() == 2 and x.shape[1] == math.prod(shape):
        return x.view(x.shape[0], *shape)
    if x.dim() == 4 and tuple(x.shape[1:]) == shape:
        return x
    raise ValueError(f"expected images (B, {', '.join(map(str, shape))}) or flat rows "
                     f"(B, {math.prod(shape)}), got shape {tuple(x.shape)}")


@torch.no_grad()
def _init_from(module: nn.Module, generator, kind: str) -> None:
    """Draw every weight from the fastgan stream, in the order of ``module.modules()``:
    ``dcgan``: conv weights N(0, 0.02²), norm weights N(1, 0.02²), biases 0;
    ``xavier``: conv/linear weights Xavier-uniform (gain 1), biases 0 (SNGAN's choice)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.weight
            if kind == "dcgan":
                w.copy_(0.02 * _random.randn(w.shape, generator=generator, device=w.device))
            else:
                fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                u = _random.rand(w.shape, generator=generator, device=w.device)
                w.copy_((2 * u - 1) * bound)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d) and kind == "dcgan":
            m.weight.copy_(1 + 0.02 * _random.randn(m.weight.shape, generator=generator,
                                                    device=m.weight.device))
            m.bias.zero_()


@torch.no_grad()
def _init_dcgan_torch(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


_DCGAN_SIZES = (16, 32, 64, 128)


class DCGANGenerator(nn.Module):
    """Radford et al. 2016: z → ConvTranspose 4×4 (1 → 4 pixels), then one stride-2
    ConvTranspose(4, 2, 1) per doubling with BatchNorm + ReLU, channels halving from
    width·2^(n−1) to width, and a last ConvTranspose to C channels + tanh.
    (B, latent_dim) → (B, C, S, S)."""

    def __init__(self, latent_dim: int, image_shape, width: int = 64):
        super().__init__()
        self.latent_dim = _positive("latent_dim", latent_dim)
        self.width = _positive("width", width)
        self.image_shape = _image_shape(image_shape, _DCGAN_SIZES)
        c, s, _ = self.image_shape
        n = int(math.log2(s)) - 3          # doublings between the 4×4 start and the last layer
        ch = width * 2 ** n
        layers = [nn.ConvTranspose2d(latent_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch),
                  nn.ReLU(True)]
        for _ in range(n):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2),
                       nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, c, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, {self.latent_dim}), got shape {tuple(z.shape)}")
        return self.net(z.view(*z.shape, 1, 1))


class DCGANDiscriminator(nn.Module):
    """The DCGAN discriminator: stride-2 Conv(4, 2, 1) + LeakyReLU(0.2) halving the size down
    to 4×4 (channels doubling from width; BatchNorm after all but the first when
    ``norm="batch"``), then a 4×4 Conv to ``out_dim`` scores. (B, pack·C, S, S) or flat rows →
    (B, out_dim). Use ``norm="none"`` with R1 / gradient penalties (they are per-sample
    gradients, which batch statistics mix) and with spectral normalisation."""

    def __init__(self, image_shape, width: int = 64, out_dim: int = 1, norm: str = "batch",
                 pack: int = 1):
        super().__init__()
        self.width = _positive("width", width)
        self.out_dim = _positive("out_dim", out_dim)
        self.pack = _positive("pack", pack)
        self.norm = _check_norm(norm)
        c, s, _ = _image_shape(image_shape, _DCGAN_SIZES)
        self.input_shape = (c * pack, s, s)
        layers, ch = [nn.Conv2d(c * pack, width, 4, 2, 1), nn.LeakyReLU(0.2, True)], width
        for _ in range(int(math.log2(s)) - 3):
            layers.append(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
        layers += [nn.Conv2d(ch, out_dim, 4, 1, 0), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_as_images(x, self.input_shape))


def dcgan_generator(latent_dim: int, image_shape, width: int = 64, *,
                    generator: _random.Generator | None = None) -> DCGANGenerator:
    """A DCGAN generator for (C, S, S) images, C ∈ {1, 3}, S ∈ {16, 32, 64, 128}; ``width`` is
    the channel count of the last hidden layer (each earlier one doubles it).

    >>> g = dcgan_generator(64, (3, 32, 32), width=32)
    >>> g(torch.randn(8, 64)).shape
    torch.Size([8, 3, 32, 32])
    """
    model = DCGANGenerator(latent_dim, image_shape, width)
    if generator is not None:
        _init_from(model, generator, "dcgan")
    else:
        _init_dcgan_torch(model)
    return model


def dcgan_discriminator(image_shape, width: int = 64, *, out_dim: int = 1, norm: str = "batch",
                        pack: int = 1,
                        generator: _random.Generator | None = None) -> DCGANDiscriminator:
    """A DCGAN discriminator for (C, S, S) images (S ∈ {16, 32, 64, 128}); (B, out_dim) scores.

    >>> d = dcgan_discriminator((3, 32, 32), width=32, norm="none")
    >>> d(torch.randn(8, 3, 32, 32)).shape
    torch.Size([8, 1])
    """
    model = DCGANDiscriminator(image_shape, width, out_dim, norm, pack)
    if generator is not None:
        _init_from(model, generator, "dcgan")
    else:
        _init_dcgan_torch(model)
    return model


# ---- SNGAN-style ResNets (Miyato et al. 2018, the CIFAR-10 32×32 models) ---------------------

class _GBlock(nn.Module):
    """BN-ReLU-Upsample×2-Conv3-BN-ReLU-Conv3, plus an upsampled 1×1-conv shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x):
        h = self.conv1(self.up(torch.relu(self.bn1(x))))
        h = self.conv2(torch.relu(self.bn2(h)))
        return h + self.shortcut(self.up(x))


class _DBlock(nn.Module):
    """(ReLU)-Conv3-ReLU-Conv3(-AvgPool2), plus a 1×1-conv(-AvgPool) shortcut; the first block
    of the network takes the image itself, so it has no leading ReLU and pools after the
    shortcut's conv (SNGAN's "optimized" block)."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool = False):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if (cin != cout or down) else None
        self.down, self.first = down, first

    def forward(self, x):
        h = x if self.first else torch.relu(x)
        h = self.conv2(torch.relu(self.conv1(h)))
        if self.down:
            h = nn.functional.avg_pool2d(h, 2)
        s = x
        if self.first:
            s = self.shortcut(nn.functional.avg_pool2d(x, 2))
        elif self.shortcut is not None:
            s = self.shortcut(x)
            if self.down:
                s = nn.functional.avg_pool2d(s, 2)
        return h + s


class ResNetGenerator(nn.Module):
    """SNGAN's 32×32 generator: Linear z → (width, 4, 4), three up-sampling residual blocks
    (4 → 8 → 16 → 32), BN-ReLU-Conv3 to C channels, tanh. (B, latent_dim) → (B, C, 32, 32)."""

    def __init__(self, latent_dim: int, image_shape=(3, 32, 32), width: int = 256):
        super().__init__()
        self.latent_dim = _positive("latent_dim", latent_dim)
        self.width = _positive("width", width)
        self.image_shape = _image_shape(image_shape, (32,))
        self.linear = nn.Linear(latent_dim, 4 * 4 * width)
        self.blocks = nn.Sequential(*[_GBlock(width, width) for _ in range(3)])
        self.bn = nn.BatchNorm2d(width)
        self.out = nn.Conv2d(width, self.image_shape[0], 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, {self.latent_dim}), got shape {tuple(z.shape)}")
        h = self.blocks(self.linear(z).view(-1, self.width, 4, 4))
        return torch.tanh(self.out(torch.relu(self.bn(h))))


class ResNetDiscriminator(nn.Module):
    """SNGAN's 32×32 discriminator: residual blocks 32 → 16 → 8 (down-sampling), two more at
    8×8, ReLU, sum over the pixels, Linear to ``out_dim``. (B, pack·C, 32, 32) or flat rows →
    (B, out_dim). It has no normalisation layer: wrap it with
    :func:`fastgan.train.regularizers.spectral_norm` as SNGAN does."""

    def __init__(self, image_shape=(3, 32, 32), width: int = 128, out_dim: int = 1, pack: int = 1):
        super().__init__()
        self.width = _positive("width", width)
        self.out_dim = _positive("out_dim", out_dim)
        self.pack = _positive("pack", pack)
        c, s, _ = _image_shape(image_shape, (32,))
        self.input_shape = (c * pack, s, s)
        self.blocks = nn.Sequential(_DBlock(c * pack, width, down=True, first=True),
                                    _DBlock(width, width, down=True),
                                    _DBlock(width, width, down=False),
                                    _DBlock(width, width, down=False))
        self.linear = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.blocks(_as_images(x, self.input_shape)))
        return self.linear(h.sum(dim=(2, 3)))


def resnet_generator(latent_dim: int, image_shape=(3, 32, 32), width: int = 256, *,
                     generator: _random.Generator | None = None) -> ResNetGenerator:
    """An SNGAN-style ResNet generator for (C, 32, 32) images, C ∈ {1, 3}.

    >>> resnet_generator(128, width=64)(torch.randn(4, 128)).shape
    torch.Size([4, 3, 32, 32])
    """
    model = ResNetGenerator(latent_dim, image_shape, width)
    if generator is not None:
        _init_from(model, generator, "xavier")
    return model


def resnet_discriminator(image_shape=(3, 32, 32), width: int = 128, *, out_dim: int = 1,
                         pack: int = 1,
                         generator: _random.Generator | None = None) -> ResNetDiscriminator:
    """An SNGAN-style ResNet discriminator for (C, 32, 32) images; (B, out_dim) scores.

    >>> d = fastgan.train.regularizers.spectral_norm(resnet_discriminator(width=64))
    >>> d(torch.randn(4, 3, 32, 32)).shape
    torch.Size([4, 1])
    """
    model = ResNetDiscriminator(image_shape, width, out_dim, pack)
    if generator is not None:
        _init_from(model, generator, "xavier")
    return model

"""The fused ops the trainers call, imported on first use (MMD, pair sums, GAN losses, latents).

Imported lazily so that ``import fastgan.train`` never imports triton before
``TRITON_INTERPRET`` has its final value.
"""
from __future__ import annotations


def mmd(x, y, **kw):
    from ..ops.mmd import mmd as f

    return f(x, y, **kw)


def pair_sum(a, b, **kw):
    from ..ops.mmd import pair_sum as f

    return f(a, b, **kw)


def discriminator_loss(real, fake, **kw):
    from ..losses import discriminator_loss as f

    return f(real, fake, **kw)


def generator_loss(fake, **kw):
    from ..losses import generator_loss as f

    return f(fake, **kw)


def latent(batch, dim, **kw):
    from ..sample import latent as f

    return f(batch, dim, **kw)

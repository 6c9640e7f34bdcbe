"""GAN losses from logits, fused with their gradients (see :mod:`fastgan.ops.gan_loss`).

``discriminator_loss(real_logits, fake_logits, *, real_label=1.0, fake_label=0.0, loss="bce",
reduction="mean")`` and ``generator_loss(fake_logits, *, saturating=False, loss="bce",
reduction="mean")``; ``loss`` is one of :data:`LOSSES`, ``reduction`` one of :data:`REDUCTIONS`.
"""
from .ops.gan_loss import LOSSES, REDUCTIONS, discriminator_loss, generator_loss

__all__ = ["discriminator_loss", "generator_loss", "LOSSES", "REDUCTIONS"]

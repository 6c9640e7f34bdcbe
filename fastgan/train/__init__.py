"""Training: GAN and MMD (GMMN / MMD-GAN) trainers, checkpoints, multi-process helpers,
metrics and plots. The ``fastgan`` command line (``fastgan train ...``) is built on
:func:`fastgan.train.run.train_builtin`.

Example::

    import fastgan
    from fastgan.train import MMDTrainer, mlp_generator
    data = fastgan.data.load("ring")
    t = MMDTrainer(mlp_generator(8, 2), latent_dim=8, bandwidth=(0.05, 0.1, 0.2, 0.5, 1, 2), lr=3e-3)
    t.fit(data, steps=1000, batch_size=256, checkpoint="runs/ring/checkpoint.pt")
    samples = t.sample(2500)
    print(fastgan.train.mode_coverage(samples, data.centers, data.std))
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .distributed import gather_rows, init_from_env, sharded_mmd
from .metrics import Evaluator, heldout_mmd, mode_coverage
from .models import CategoricalLatentGenerator, mlp_discriminator, mlp_generator
from .runs import RunFolder, RunFolderError, atomic_write
from .trainer import GANTrainer, MMDTrainer, NonFiniteLossError, NonFiniteStateError, Trainer

__all__ = [
    "Trainer", "GANTrainer", "MMDTrainer", "NonFiniteLossError", "NonFiniteStateError", "mlp_generator",
    "CategoricalLatentGenerator",
    "mlp_discriminator", "save_checkpoint", "load_checkpoint", "CheckpointError", "sharded_mmd", "gather_rows",
    "init_from_env", "mode_coverage", "heldout_mmd", "Evaluator", "RunFolder", "RunFolderError",
    "atomic_write", "train_builtin",
]


def train_builtin(*args, **kwargs):
    """See :func:`fastgan.train.run.train_builtin` (imported lazily: it pulls in matplotlib)."""
    from .run import train_builtin as f

    return f(*args, **kwargs)

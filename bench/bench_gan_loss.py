"""pytest-benchmark (GAN losses, issue #4): the gan_loss cases of bench/cases/gan_loss.py, one test per case and provider.

    python -m pytest bench/bench_gan_loss.py --benchmark-columns=median,rounds
"""
from .pytest_support import parametrize, run


@parametrize("gan_loss")
def test_gan_loss(benchmark, case, provider):
    run(benchmark, case, provider)

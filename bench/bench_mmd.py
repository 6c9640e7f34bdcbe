"""pytest-benchmark (MMD, issue #3): the mmd cases of bench/cases/mmd.py, one test per case and provider.

    python -m pytest bench/bench_mmd.py --benchmark-columns=median,rounds
"""
from .pytest_support import parametrize, run


@parametrize("mmd")
def test_mmd(benchmark, case, provider):
    run(benchmark, case, provider)

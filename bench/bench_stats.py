"""pytest-benchmark (MMD permutation test, issue 17): the cases of bench/cases/stats.py, one test
per case and provider.

    python -m pytest bench/bench_stats.py --benchmark-columns=median,rounds
"""
from .pytest_support import parametrize, run


@parametrize("stats")
def test_stats(benchmark, case, provider):
    run(benchmark, case, provider)

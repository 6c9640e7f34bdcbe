"""pytest-benchmark (RNG, issue #2): the random cases of bench/cases/random.py, one test per case and provider.

    python -m pytest bench/bench_random.py --benchmark-columns=median,rounds
"""
from .pytest_support import parametrize, run


@parametrize("random")
def test_random(benchmark, case, provider):
    run(benchmark, case, provider)

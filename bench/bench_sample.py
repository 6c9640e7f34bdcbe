"""pytest-benchmark (samplers, issue #5): the sample cases of bench/cases/sample.py, one test per case and provider.

    python -m pytest bench/bench_sample.py --benchmark-columns=median,rounds
"""
from .pytest_support import parametrize, run


@parametrize("sample")
def test_sample(benchmark, case, provider):
    run(benchmark, case, provider)

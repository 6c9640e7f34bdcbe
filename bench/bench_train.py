"""pytest-benchmark (training steps, issue #6): the train cases of bench/cases/train.py, one test per case and provider.

    python -m pytest bench/bench_train.py --benchmark-columns=median,rounds
"""
from .pytest_support import parametrize, run


@parametrize("train")
def test_train(benchmark, case, provider):
    run(benchmark, case, provider)

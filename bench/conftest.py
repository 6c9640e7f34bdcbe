"""pytest set-up for the pytest-benchmark files: ``python -m pytest bench`` collects
bench/bench_*.py (the project's testpaths only name tests/, so CI never runs benchmarks).

FASTGAN_BENCH_MODE picks the grid (dry / quick / full; default: full on CUDA, quick on CPU).
"""
import pytest


def pytest_collect_file(file_path, parent):
    # files named on the command line are collected by pytest itself; this adds the rest
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None

"""fastgan benchmarks: the runner (``python -m bench`` / ``fastgan bench``), the case
definitions shared with the pytest-benchmark files (bench/bench_<op>.py), and the renderer
of the README table and plots (``python -m bench.render``)."""

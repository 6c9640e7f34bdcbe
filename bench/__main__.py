"""``python -m bench ...``: the benchmark runner (see bench/runner.py)."""
from .runner import main

raise SystemExit(main())

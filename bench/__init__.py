"""The dealpulse benchmark harness: one command, every figure of issue 5 side by side.

    .venv/bin/python -m bench run --scale 1.0 --out bench/results

See `docs/performance.md` for what is measured, how, and the latest results.
"""

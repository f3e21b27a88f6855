"""modelspec benchmarks: zero overhead, runtime defaults, PyTorch, start-up, data, time to
accuracy and GPU throughput. Run `python -m bench` (writes bench/RESULTS.md) or
`python -m bench --quick`; see bench/README.md.
"""

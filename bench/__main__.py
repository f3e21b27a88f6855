"""`python -m bench`: runs the benchmarks and writes bench/RESULTS.md (see bench.run)."""

import sys

from bench.run import main

sys.exit(main())

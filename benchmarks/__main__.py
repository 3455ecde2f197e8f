"""``python -m benchmarks``: the benchmark (:mod:`benchmarks.run`); ``make bench`` runs it."""

from benchmarks.run import main

raise SystemExit(main())

#!/usr/bin/env python
"""The ablation grid in one command (docs/ablations.md): every variant as its own ``kedro run``,
tagged ``ablation.variant`` in MLflow, and the comparison table in ``data/08_reporting/ablations.md``.

    python scripts/ablations.py --dry-run
    python scripts/ablations.py --variants rules_and_judges,no_parallel --sample-size 3
"""

import sys

from toolace_kedro.ablations.grid import main

if __name__ == "__main__":
    sys.exit(main())

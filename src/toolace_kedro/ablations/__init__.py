"""The papers' ablation grid (ToolACE: verification layers, data types; iTool: the easy-to-hard
warm-up) as one command: ``python scripts/ablations.py`` / ``make ablations``. See docs/ablations.md.
"""

from toolace_kedro.ablations.grid import main, run_grid
from toolace_kedro.ablations.table import build_table
from toolace_kedro.ablations.variants import REFERENCE, VARIANTS, Variant, kedro_command, select_variants

__all__ = ["REFERENCE", "VARIANTS", "Variant", "build_table", "kedro_command", "main", "run_grid", "select_variants"]

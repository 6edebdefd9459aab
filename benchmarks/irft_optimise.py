"""irft `optimise_policy` alone: wall time, training figures and the process's peak RSS.

Runs the node on the latest `irft_round_1.preference_pairs`, its pair and search reports and the
latest `irft_sft_policy` in `data/` (left by a `kedro run`), with the project's `irft`
parameters (MLflow off). By default the policy is passed as its model directory, as `kedro run`
passes it (`irft_sft_policy` is a `ModelDirectoryDataset`: its `load` gives the path);
`--in-memory` hands over the `{"model", "tokenizer"}` dict instead, as an in-memory catalog (the
tests) does. One run per process: compare versions by running the script on each, one after the
other.

    .venv/bin/python benchmarks/irft_optimise.py [--in-memory] [--set optimisation.batch_size=1 ...]
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import time
from pathlib import Path

import yaml
from _overrides import apply_overrides

ROOT = Path(__file__).resolve().parents[1]


def _latest(pattern: str) -> Path:
    found = sorted(glob.glob(str(ROOT / pattern)))
    if not found:
        raise SystemExit(f"nothing matches {pattern}: run `kedro run` (or the sft and irft pipelines) first")
    return Path(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--in-memory", action="store_true",
                        help="hand over the loaded policy instead of its model directory")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an irft parameter, e.g. optimisation.batch_size=1 (repeatable)")
    args = parser.parse_args()
    from toolace_kedro.models import load_policy
    from toolace_kedro.pipelines.irft import nodes

    pairs_file = _latest("data/05_model_input/irft_round_1/preference_pairs.jsonl/*/preference_pairs.jsonl")
    pairs = [json.loads(line) for line in pairs_file.read_text().splitlines() if line]
    reports = {name: json.loads(_latest(f"data/08_reporting/irft_round_1/{name}.json/*/{name}.json").read_text())
               for name in ("pair_report", "search_report")}
    policy_dir = _latest("data/06_models/irft_sft_policy/*/irft_sft_policy")
    policy: object = str(policy_dir)
    if args.in_memory:
        model, tokenizer = load_policy(str(policy_dir), cached=False)
        policy = {"model": model, "tokenizer": tokenizer}
    params = yaml.safe_load((ROOT / "conf/base/parameters_irft.yml").read_text())["irft"]
    params["optimisation"]["report_to"] = "none"
    apply_overrides(params, args.set)
    print(f"{len(pairs)} pairs{' with ' + ', '.join(args.set) if args.set else ''} ({pairs_file.parent.name}); policy {policy_dir.parent.name} "
          f"{'in memory' if args.in_memory else 'from its model directory'}")
    started = time.perf_counter()
    _, figures = nodes.optimise_policy(pairs, policy, policy, reports["pair_report"], reports["search_report"], params)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux; GB as the hook gives it
    print(f"optimise_policy {wall:.1f} s; pairs {figures.get('pairs')}, steps {figures.get('steps')}, training "
          f"{figures.get('runtime_s')} s; pair loss before/after {figures.get('pairs_before_loss')} / "
          f"{figures.get('pairs_after_loss')}; peak RSS of the process {peak:.2f} GB")


if __name__ == "__main__":
    main()

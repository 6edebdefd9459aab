"""Cost of one policy's BFCL multi-turn entries as the evaluation stage asks them, with and without
the early stop of each step (``evaluation.multi_turn.early_stop``).

Takes ``evaluation`` and ``llm`` from ``conf/<env>`` (response cache off unless ``--cache-dir``),
the seeded subset of ``--n`` entries of ``--category`` that the stage would draw, and the policy of
``--model`` (+ ``--adapter``) as the stage configures it (``nodes.policy_llm_config``), then runs
``run_multi_turn`` and BFCL's verdict. Prints the wall time, the load average around it, the
client's usage (requests, prompt and generated tokens), the in-process engine's statistics
(prompt positions prefilled and reused from the prefix store, decode and prefill seconds), the
steps per turn and the verdict of each entry, and the first words of each turn's first answer.

    .venv/bin/python benchmarks/multi_turn_cost.py [--category multi_turn_base] [--n 1]
        [--adapter DIR] [--no-early-stop] [--max-steps 20] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import os
import time

from kedro.config import OmegaConfigLoader

from toolace_kedro.datasets.bfcl_multi_turn import (
    MULTI_TURN_CATEGORIES,
    load_multi_turn_category,
)
from toolace_kedro.llm import build_llm
from toolace_kedro.pipelines.evaluation.config import EvaluationParams
from toolace_kedro.pipelines.evaluation.items import seeded_subset
from toolace_kedro.pipelines.evaluation.multi_turn import check_trajectory
from toolace_kedro.pipelines.evaluation.multi_turn_policy import run_multi_turn
from toolace_kedro.pipelines.evaluation.nodes import multi_turn_stop, policy_llm_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="base")
    parser.add_argument("--category", default="multi_turn_base", choices=MULTI_TURN_CATEGORIES)
    parser.add_argument("--n", type=int, default=1, help="entries (the stage's seeded subset)")
    parser.add_argument("--model", default=None, help="default: sft.policy_model (the embedded model)")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--no-early-stop", action="store_true", help="multi_turn.early_stop: false")
    parser.add_argument("--max-steps", type=int, default=None, help="default: evaluation.multi_turn.max_steps")
    parser.add_argument("--max-tokens", type=int, default=None, help="default: evaluation.multi_turn.max_tokens")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()

    conf = OmegaConfigLoader("conf", base_env="base", default_run_env=args.env)["parameters"]
    multi = {**conf["evaluation"].get("multi_turn", {}), "categories": [args.category], "sample_size": args.n}
    if args.no_early_stop:
        multi["early_stop"] = False
    for key, value in (("max_steps", args.max_steps), ("max_tokens", args.max_tokens)):
        if value is not None:
            multi[key] = value
    cfg = EvaluationParams.of({**conf["evaluation"], "multi_turn": multi})
    llm_params = {**conf["llm"], "cache_dir": args.cache_dir}
    model = args.model or conf["sft"]["policy_model"]
    config = policy_llm_config(llm_params, cfg, "sft" if args.adapter else "base", model, args.adapter)
    entries = seeded_subset(load_multi_turn_category(args.category), args.n, cfg.seed, args.category)
    llm = build_llm(config)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    trajectories = run_multi_turn(llm, entries, max_steps=cfg.multi_turn.max_steps,
                                  max_tokens=cfg.multi_turn.max_tokens, **multi_turn_stop(cfg.multi_turn))
    seconds = time.perf_counter() - start
    print(f"{args.category}: {len(entries)} entries, early_stop={cfg.multi_turn.early_stop}, "
          f"max_tokens={cfg.multi_turn.max_tokens}: {seconds:.1f} s (load {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after)")
    print("usage:", llm.usage.as_dict())
    engine = getattr(llm, "_engine", None)
    if engine is not None:
        print("engine:", {k: round(v, 1) if isinstance(v, float) else v for k, v in engine.stats.items()})
    for entry, trajectory in zip(entries, trajectories):
        ok, reason = check_trajectory(entry, trajectory)
        print(f"{entry['id']}: steps per turn {[len(t) for t in trajectory]}, {'right' if ok else reason}")
        print("  first answers:", [t[0][:40] if t else None for t in trajectory])
    llm.close()


if __name__ == "__main__":
    main()

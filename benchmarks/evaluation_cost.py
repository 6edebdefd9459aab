"""Cost of one policy's evaluation predictions on the configured item set, and how many generated
tokens each category's verdicts need.

Builds the evaluation items from ``conf/<env>/parameters_evaluation.yml`` (the held-out synthetic
set too when ``--sft-test`` names a JSON-lines file), runs the evaluation's own ``_predict`` for
one policy (``--model``, ``--adapter``) with the project's ``llm`` block (response cache off unless
``--cache-dir``), and prints the wall time, the load average around it and, per category, the
generated tokens (mean, max, items at ``max_tokens``) and BFCL's verdicts.

``--truncate 16,24,32,...`` then re-scores every BFCL output cut to its first k tokens (greedy
decoding: the answer under ``max_tokens: k`` is the first k tokens of this one) and prints, per
category, the verdicts that would change: the smallest k with no change is what that category's
``max_tokens`` can be lowered to. ``--save`` writes the predictions (JSON) and ``--compare`` checks
the verdicts against a saved run item by item.

    .venv/bin/python benchmarks/evaluation_cost.py [--max-tokens 96] [--truncate 8,16,32,48,64]
        [--per-category parallel=128,live_simple=128] [--no-early-stop] [--batch-size 32]
        [--adapter DIR] [--save base.json] [--compare base.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from toolace_kedro.datasets import BFCLDataset, JSONLinesDataset
from toolace_kedro.models import resolve_model
from toolace_kedro.pipelines.evaluation import nodes
from toolace_kedro.pipelines.evaluation.bfcl import check_output

ROOT = Path(__file__).resolve().parents[1]


def _params(env: str) -> tuple[dict, dict]:
    base = yaml.safe_load((ROOT / "conf" / "base" / "parameters.yml").read_text())
    evaluation = yaml.safe_load((ROOT / "conf" / env / "parameters_evaluation.yml").read_text())["evaluation"]
    return base["llm"], evaluation


def _verdicts(items: list[dict], outputs: dict[str, str]) -> dict[str, bool]:
    return {i["id"]: check_output(i["category"], i["entry"], i["entry"]["possible_answer"], outputs[i["id"]])[0]
            for i in items if i["source"] == "bfcl"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="base")
    parser.add_argument("--model", default=None, help="default: sft.policy_model (the embedded model)")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--max-tokens", type=int, default=None, help="default: evaluation.generation.max_tokens")
    parser.add_argument("--per-category", default="", help="category=max_tokens,... (evaluation.generation.max_tokens_by_category)")
    parser.add_argument("--prompt", default=None, help="bfcl or training (default: evaluation.prompt)")
    parser.add_argument("--no-early-stop", action="store_true", help="generation.early_stop: false")
    parser.add_argument("--batch-size", type=int, default=None, help="default: evaluation.generation.batch_size")
    parser.add_argument("--sft-test", default=None, help="a JSON-lines sft_test file (default: no synthetic items)")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--truncate", default="", help="k,k,...: verdicts of the outputs cut to k tokens")
    parser.add_argument("--save", default=None)
    parser.add_argument("--compare", default=None)
    args = parser.parse_args()

    llm, params = _params(args.env)
    params["generation"] = dict(params["generation"])
    if args.max_tokens:
        params["generation"]["max_tokens"] = args.max_tokens
    if args.per_category:
        params["generation"]["max_tokens_by_category"] = {
            k: int(v) for k, v in (pair.split("=") for pair in args.per_category.split(","))}
    if args.prompt:
        params["prompt"] = args.prompt
    if args.no_early_stop:
        params["generation"]["early_stop"] = False
    if args.batch_size:
        params["generation"]["batch_size"] = args.batch_size
    model = args.model or yaml.safe_load((ROOT / "conf" / "base" / "parameters_sft.yml").read_text())["sft"]["policy_model"]
    sft_test = JSONLinesDataset(filepath=args.sft_test).load() if args.sft_test else []
    bfcl_data = BFCLDataset(categories=params["bfcl"]["categories"]).load()
    items, _ = nodes.build_items(bfcl_data, list(sft_test), params)
    llm = {**llm, "cache_dir": args.cache_dir, "progress": False}
    print(f"{len(items)} items ({Counter(i['category'] for i in items)}), prompt {params.get('prompt', 'bfcl')}, "
          f"generation {params['generation']}, llm batch_size {llm.get('batch_size')}")
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    predictions = nodes._predict(items, llm, params, model, args.adapter, "policy")
    seconds = time.perf_counter() - start
    outputs = {p["id"]: p["output"] for p in predictions}
    print(f"predict: {seconds:.1f} s for {len(items)} items (1-min load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after; {os.cpu_count()} CPUs)")

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model(model))
    lengths = {i: len(tok(o, add_special_tokens=False).input_ids) for i, o in outputs.items()}
    verdicts = _verdicts(items, outputs)
    by_category = defaultdict(list)
    for item in items:
        by_category[item["category"]].append(item)
    limits = params["generation"].get("max_tokens_by_category") or {}
    print("category | n | correct | output tokens mean / max | at the limit")
    for category, group in by_category.items():
        limit = limits.get(category, params["generation"]["max_tokens"])
        n_tokens = [lengths[i["id"]] for i in group]
        correct = sum(verdicts.get(i["id"], False) for i in group) if group[0]["source"] == "bfcl" else "-"
        print(f"{category} | {len(group)} | {correct} | {sum(n_tokens) / len(group):.1f} / {max(n_tokens)} | "
              f"{sum(n >= limit - 1 for n in n_tokens)} (limit {limit})")

    for k in [int(x) for x in args.truncate.split(",") if x]:
        cut = {}
        for item in (i for i in items if i["source"] == "bfcl"):
            ids = tok(outputs[item["id"]], add_special_tokens=False).input_ids
            cut[item["id"]] = tok.decode(ids[:k], skip_special_tokens=True).strip()
        changed = Counter(i["category"] for i in items if i["source"] == "bfcl"
                          and _verdicts([i], cut)[i["id"]] != verdicts[i["id"]])
        print(f"cut to {k} tokens: verdicts changed per category {dict(changed) or 'none'}")

    if args.save:
        Path(args.save).write_text(json.dumps({"seconds": seconds, "predictions": predictions,
                                               "verdicts": verdicts, "lengths": lengths}, indent=1))
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        differ = [i for i, v in verdicts.items() if before["verdicts"].get(i) != v]
        same_text = sum(before_p["output"] == outputs.get(before_p["id"]) for before_p in before["predictions"])
        print(f"compared with {args.compare}: {len(differ)} verdicts differ {differ[:10]}; "
              f"{same_text}/{len(before['predictions'])} outputs identical")


if __name__ == "__main__":
    main()

"""Step-level MCTS with the prompt's KV cache reused vs the whole prefix recomputed.

The modes search the same samples with the same seeds on the embedded SmolLM2-135M-Instruct,
side by side in one process (alternating for ``--rounds`` rounds after a warm-up):

* ``reuse``: each sample's prompt (system prompt with the tools + the dialog) is processed once;
  an expansion feeds only the node's answer tokens on a copy of that cache;
* ``per_expansion``: every expansion processes prompt + answer prefix from scratch, once for its
  ``k`` children;
* ``per_child``: ... once for every child (what ``generate(num_return_sequences=k)`` on the
  node's full text does: it copies the input ``k`` times before the prefill).

Everything else (lockstep batching across samples, slab KV cache, sampling) is the same code, so
the difference is the prefix handling alone. The trees must come out identical; the script checks.
Samples: the newest ``sft_train`` version under ``data/05_model_input`` (or ``--data FILE``),
else dialogs written here over the shipped seed APIs (three tools per prompt).
Usage: ``.venv/bin/python benchmarks/mcts_prefix_reuse.py [--samples 8] [--iterations 5] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import time
from pathlib import Path

import torch

from toolace_kedro.models import load_policy
from toolace_kedro.pipelines.irft.decoding import PREFIX_MODES, StepSampler
from toolace_kedro.pipelines.irft.deficiency import search_target
from toolace_kedro.pipelines.irft.mcts import run_searches
from toolace_kedro.pipelines.irft.reward import build_reward

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = [
    ("search_flights", "Find flights from JFK to LAX on 2025-03-01.",
     {"origin": "JFK", "destination": "LAX", "date": "2025-03-01"}),
    ("get_stock_quote", "What is the price of AAPL on NASDAQ right now?", {"symbol": "AAPL", "exchange": "NASDAQ"}),
    ("log_workout", "Log a 45 minute run for user u42.", {"user_id": "u42", "activity": "run", "duration_minutes": 45}),
    ("create_playlist", "Make a public playlist called Road Trip.", {"title": "Road Trip", "public": True}),
    ("get_hourly_forecast", "Hourly forecast for Oslo for the next 12 hours in metric units.",
     {"location": "Oslo", "hours": 12, "units": "metric"}),
    ("create_order", "Order item SKU-1 shipped to France.", {"items": ["SKU-1"], "country": "FR"}),
]


def samples(n: int, data: str | None) -> list[dict]:
    files = [data] if data else sorted(glob.glob(str(ROOT / "data/05_model_input/sft_train.jsonl/*/sft_train.jsonl")))
    if files:
        rows = [json.loads(line) for line in Path(files[-1]).read_text().splitlines() if line.strip()]
        print(f"samples: {files[-1]}")
        return rows[:n]
    apis = {a["name"]: a for a in map(json.loads, (ROOT / "data/01_raw/seed_apis.jsonl").read_text().splitlines())}
    names = list(apis)
    out = []
    for i in range(n):
        name, request, arguments = REQUESTS[i % len(REQUESTS)]
        tools = [apis[name]] + [apis[names[(names.index(name) + j) % len(names)]] for j in (1, 2)]
        out.append({"id": f"bench-{i}", "type": "single", "tools": tools, "messages": [
            {"role": "user", "content": request},
            {"role": "assistant", "content": "", "tool_calls": [{"name": name, "arguments": arguments}]},
            {"role": "tool", "content": [{"name": name, "results": {}}]},
            {"role": "assistant", "content": "Done."}]})
    print("samples: written over data/01_raw/seed_apis.jsonl (three tools per prompt)")
    return out


def run(model, tokenizer, targets, params, mode: str):
    sampler = StepSampler(model, tokenizer, max_new_tokens=params["max_new_tokens"],
                          simulation_tokens=params["simulation_tokens"], prefix=mode)
    start = time.perf_counter()
    searches = run_searches(targets, sampler, lambda t: build_reward("match", t), params, progress=False)
    seconds = time.perf_counter() - start
    return seconds, sampler.stats, [[(n["prefix"], n["visits"]) for n in s.to_record()["nodes"]] for s in searches]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data", default=None)
    parser.add_argument("--dtype", default="auto", help="model dtype: auto (fp32 on CPU) or bfloat16")
    parser.add_argument("--modes", default=",".join(PREFIX_MODES))
    parser.add_argument("--simulation-tokens", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)
    model, tokenizer = load_policy("smollm2-135m-instruct", dtype=args.dtype)
    targets = [t for t in map(search_target, samples(args.samples, args.data)) if t]
    params = {"k": args.k, "n_iterations": args.iterations, "max_new_tokens": 50,
              "simulation_tokens": args.simulation_tokens,
              "batch_samples": len(targets), "seed": 0}
    prompt_lens = [len(tokenizer.apply_chat_template(t["context"], add_generation_prompt=True, tokenize=True,
                                                     return_dict=True)["input_ids"]) for t in targets]
    print(f"{len(targets)} samples, prompts {min(prompt_lens)}-{max(prompt_lens)} tokens "
          f"(mean {statistics.mean(prompt_lens):.0f}); k={args.k}, {args.iterations} iterations, "
          f"dtype {model.dtype}, torch threads {torch.get_num_threads()}")
    modes = args.modes.split(",")
    run(model, tokenizer, targets[:2], {**params, "n_iterations": 1}, "reuse")  # warm-up
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    trees = {}
    for _ in range(args.rounds):
        for mode in modes:
            seconds, stats, tree = run(model, tokenizer, targets, params, mode)
            times[mode].append(seconds)
            trees[mode] = tree
            print(f"  {mode:13s} {seconds:7.1f} s  prefill tokens {stats['prefill_tokens']:6d}  "
                  f"decode steps {stats['decode_steps']:4d}  decode rows {stats['decode_rows']}", flush=True)
    same = all(tree == trees[modes[0]] for tree in trees.values())
    median = {mode: statistics.median(t) for mode, t in times.items()}
    summary = ", ".join(f"{mode} {median[mode]:.1f} s" for mode in modes)
    ratios = ", ".join(f"vs {mode} {median[mode] / median['reuse']:.2f}x" for mode in modes if mode != "reuse")
    print(f"median: {summary}; speed-up of reuse: {ratios}; identical trees: {same}")


if __name__ == "__main__":
    main()

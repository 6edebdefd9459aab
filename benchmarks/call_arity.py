"""Do the training calls' argument counts decide how many arguments the policy writes?

At the learning curve's plateau most of the sft policy's BFCL simple_python failures are
``missing_required`` (its call stops after one or two arguments), while most training calls
carry one argument. This benchmark trains the sft recipe on two sets of the same size and
dialog-type mix, drawn from one pool's training split (the learning curve's split, items and
held-out set):

- ``multi``: every call dialog whose calls carry two or more arguments;
- ``one``: as many call dialogs whose calls carry one argument, type by type (a type short of
  them is filled with single-call ones);

beside each the same non-call dialogs, in the training split's own call / non-call ratio. For
each arm it prints BFCL accuracy per category with Wilson intervals and failure reasons, and how
complete the calls are: of the simple_python and live_simple answers that call the item's
function, the mean number of arguments written against the number required, and the share that
carries every required parameter. One process per arm and training seed (``OMP_NUM_THREADS=1``
lanes side by side), then ``--compare`` tabulates the arms and ``seed_compare.py`` pairs them item
by item (exact McNemar, pooled over the training seeds; the states keep the learning curve's
layout, keyed by the arms' common size)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/call_arity.py --pool benchmarks/results/learning_curve_pool_20261206.jsonl.gz \\
        --arm multi --train-seed 0 --out /tmp/arity/multi_s0
    .venv/bin/python benchmarks/call_arity.py --compare /tmp/arity/one_s0.json /tmp/arity/multi_s0.json ...
    .venv/bin/python benchmarks/seed_compare.py --size <N> --a one=/tmp/arity/one_s0.json,... --b multi=/tmp/arity/multi_s0.json,...
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning_curve as lc

ARMS = ("one", "multi")
_OPENED = re.compile(r"\[?\s*[A-Za-z_][\w.]*\(")
COMPLETENESS = ("simple_python", "live_simple")


def arity(dialog: dict) -> int | None:
    """The most arguments any call of the dialog carries; None for a dialog without calls."""
    calls = [c for m in dialog["messages"] for c in (m.get("tool_calls") or [])]
    return max(len(c.get("arguments") or {}) for c in calls) if calls else None


def arm_dialogs(train: list[dict], arm: str, seed: int) -> tuple[list[dict], dict]:
    """The training dialogs of one arm (see the module docstring) and what they hold."""
    rng = random.Random(seed)
    by_type: dict[str, dict[str, list[dict]]] = defaultdict(lambda: {"one": [], "multi": [], "none": [], "zero": []})
    for d in train:
        n = arity(d)
        by_type[d["type"]]["none" if n is None else "zero" if n == 0 else "one" if n == 1 else "multi"].append(d)
    wanted = {t: len(g["multi"]) for t, g in by_type.items() if g["multi"]}
    calls: list[dict] = []
    if arm == "multi":
        calls = [d for g in by_type.values() for d in g["multi"]]
    else:
        short = 0
        for t, n in wanted.items():
            pool = list(by_type[t]["one"])
            rng.shuffle(pool)
            calls += pool[:n]
            short += max(0, n - len(pool))
        spare = [d for d in by_type["single"]["one"] if d not in calls]
        rng.shuffle(spare)
        calls += spare[:short]
    non_call = [d for g in by_type.values() for d in g["none"]]
    n_call_train = sum(1 for d in train if arity(d))
    k = round(len(calls) * (len(train) - n_call_train) / max(1, n_call_train))
    rng.shuffle(non_call)
    chosen = calls + non_call[:k]
    return chosen, {"dialogs": len(chosen), "call_dialogs": len(calls), "non_call_dialogs": min(k, len(non_call)),
                    "types": dict(Counter(d["type"] for d in chosen)),
                    "arguments_per_call": dict(sorted(Counter(len(c.get("arguments") or {}) for d in calls
                                                              for m in d["messages"]
                                                              for c in (m.get("tool_calls") or [])).items()))}


def completeness(items: list[dict], predictions: list[dict]) -> dict:
    """Per category: of the answers that call the item's (first) function, how many arguments they
    write against how many the function requires, and the share carrying every required one."""
    from toolace_kedro.toolcalls.parsing import ToolCallParseError, parse_calls

    output = {(p["source"], p["id"]): p["output"] for p in predictions}
    out = {}
    for category in COMPLETENESS:
        written, required, complete, positional = [], [], 0, 0
        chosen = [i for i in items if i["source"] == "bfcl" and i["category"] == category]
        for item in chosen:
            function = item["entry"]["function"][0]
            text = output[("bfcl", item["id"])]
            try:
                calls = parse_calls(text)
            except ToolCallParseError:
                opened = _OPENED.match(text.strip())  # ``[f(5)]``: a call BFCL reads as missing its arguments
                positional += bool(opened) and "=" not in text.strip()[opened.end():].split(")", 1)[0]
                continue
            call = next((c for c in calls if c["name"] == function["name"]), None)
            if call is None:
                continue
            need = function["parameters"].get("required", [])
            written.append(len(call["arguments"]))
            required.append(len(need))
            complete += all(k in call["arguments"] for k in need)
        out[category] = {"items": len(chosen), "calls_the_function": len(written),
                         "mean_arguments": round(statistics.mean(written), 2) if written else None,
                         "mean_required": round(statistics.mean(required), 2) if required else None,
                         "all_required": complete, "positional_only": positional}
    return out


def run_arm(args: argparse.Namespace) -> None:
    from toolace_kedro.pipelines.evaluation.nodes import score_model

    run = lc.setup(args.pool, [], args.train_seed, args.per_category)
    items = run["items"]
    subset, held = arm_dialogs(run["train"], args.arm, args.seed)
    print(f"arm {args.arm}: {json.dumps(held)}", flush=True)
    started = time.perf_counter()
    predictions = lc.train_and_predict(subset, run, args.arm)
    scores = score_model(items, predictions)
    # the learning curve's state layout (``results`` by training-set size), so seed_compare.py pairs the arms
    state = {"pool": args.pool, "split": run["split"], "arm": args.arm, "train_seed": args.train_seed, "data": held,
             "completeness": completeness(items, predictions),
             "results": {str(len(subset)): {"scores": scores, "summary": lc.summary(scores),
                                            "minutes": round((time.perf_counter() - started) / 60, 1)}}}
    out = Path(args.out).with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(state, indent=1))
    print(report([state]))


def report(states: list[dict]) -> str:
    columns = [*lc.CATEGORIES, *lc.HELD_OUT, "complete calls (simple / live)", "args written / required (simple)",
               "missing_required (simple)"]
    lines = ["| arm | seed | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for s in states:
        (result,) = s["results"].values()
        cells = []
        for c in [*lc.CATEGORIES, *lc.HELD_OUT]:
            v = result["summary"].get(c)
            cells.append(f"{v['correct']}/{v['n']} ({100 * v['low']:.0f}–{100 * v['high']:.0f} %)" if v else "–")
        sp, ls = s["completeness"]["simple_python"], s["completeness"]["live_simple"]
        cells += [f"{sp['all_required']}/{sp['calls_the_function']} / {ls['all_required']}/{ls['calls_the_function']}",
                  f"{sp['mean_arguments']} / {sp['mean_required']}",
                  str(result["scores"]["bfcl"]["simple_python"]["failures"].get("missing_required", 0))]
        lines.append(f"| {s['arm']} | {s['train_seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(paths: list[str]) -> None:
    """The arms' table (the paired tests: ``seed_compare.py`` on the same files)."""
    states = [json.loads(Path(p).read_text()) for p in paths]
    if len({json.dumps(s["split"], sort_keys=True) for s in states}) != 1:
        raise SystemExit("the states were made on different splits: not comparable")
    print(report(states))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", help="dialogs JSONL (canonical dialogs), optionally .gz")
    ap.add_argument("--arm", choices=ARMS)
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0, help="seed of the arms' draws (the split is the sft stage's)")
    ap.add_argument("--per-category", type=int, default=40)
    ap.add_argument("--out", help="state file (.json) of this arm and seed")
    ap.add_argument("--compare", nargs="+", metavar="STATE", help="finished arms' states: table and paired tests")
    args = ap.parse_args()
    if args.compare:
        compare(args.compare)
        return
    if not (args.pool and args.arm and args.out):
        ap.error("--pool, --arm and --out are required (unless --compare)")
    run_arm(args)


if __name__ == "__main__":
    main()

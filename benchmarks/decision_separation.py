"""Does a policy's choice to call depend on the request, or is it a prior?

For every item of an evaluation run (``evaluation_items``: BFCL under its own prompt and the
held-out synthetic dialogs) one forward pass gives p(call): the probability that the first answer
token opens a call (``sft.decision.call_open_ids``: tokens starting with ``[``). Printed per
category: n and the quartiles of p(call); then the AUC of p(call) between the items that need a
call (BFCL's AST categories; the synthetic single/parallel/dependent dialogs) and those that need
a decline (irrelevance / live_irrelevance; synthetic non_tool): 0.5 means the decision ignores the
request, 1.0 that a threshold would separate them perfectly. Greedy decoding calls where p(call)
is above roughly one half, so the quartiles also show where the policy stands.

    .venv/bin/python benchmarks/decision_separation.py [--adapter DIR | --model NAME_OR_DIR]
        [--items data/05_model_input/evaluation_items.jsonl/<version>/evaluation_items.jsonl] [--save out.json]

Defaults: the newest ``sft_adapter`` on the embedded model, the newest ``evaluation_items``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

DECLINE = {"irrelevance", "live_irrelevance", "non_tool"}
CALL_SYNTHETIC = {"single", "parallel", "dependent"}


def newest(pattern: str) -> str | None:
    found = sorted(ROOT.glob(pattern))
    return str(found[-1]) if found else None


def auc(positives: list[float], negatives: list[float]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count one half)."""
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--adapter", help="LoRA adapter directory on --model (default: the newest sft_adapter)")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--base", action="store_true", help="the model alone, no adapter")
    ap.add_argument("--items", help="evaluation_items JSON lines (default: the newest version)")
    ap.add_argument("--save", help="write the per-item p(call) here (JSON)")
    args = ap.parse_args()

    import torch

    from toolace_kedro.models.loading import load_policy
    from toolace_kedro.pipelines.sft.decision import call_open_ids

    items_path = args.items or newest("data/05_model_input/evaluation_items.jsonl/*/evaluation_items.jsonl")
    adapter = None if args.base else (args.adapter or newest("data/06_models/sft_adapter/*/sft_adapter"))
    if not items_path:
        sys.exit("no evaluation_items: run the evaluation pipeline first, or pass --items")
    items = [json.loads(line) for line in open(items_path, encoding="utf-8") if line.strip()]
    model, tokenizer = load_policy(args.model, adapter=adapter)
    opens = torch.tensor(call_open_ids(tokenizer))
    print(f"policy {args.model} + {adapter or 'no adapter'}; {len(items)} items from {items_path}", flush=True)
    rows = []
    with torch.no_grad():
        for item in items:
            ids = tokenizer.apply_chat_template(item["messages"], add_generation_prompt=True, tokenize=True,
                                                return_dict=False)
            logits = model(input_ids=torch.tensor([ids]), logits_to_keep=1).logits[0, -1].float()
            p_call = float(torch.log_softmax(logits, -1)[opens].logsumexp(0).exp())
            rows.append({"id": item["id"], "source": item["source"], "category": item["category"], "p_call": p_call})
    by_category: dict[str, list[float]] = {}
    for row in rows:
        by_category.setdefault(f"{row['source']}:{row['category']}", []).append(row["p_call"])
    print(f"{'items':28s} {'n':>4s} {'q25':>6s} {'median':>6s} {'q75':>6s}")
    for name, values in sorted(by_category.items()):
        v = sorted(values)
        print(f"{name:28s} {len(v):4d} {v[len(v) // 4]:6.3f} {v[len(v) // 2]:6.3f} {v[3 * len(v) // 4]:6.3f}")
    for source, calls in (("bfcl", lambda c: c not in DECLINE), ("synthetic", lambda c: c in CALL_SYNTHETIC)):
        pos = [r["p_call"] for r in rows if r["source"] == source and calls(r["category"])]
        neg = [r["p_call"] for r in rows if r["source"] == source and r["category"] in DECLINE]
        value = auc(pos, neg)
        print(f"AUC {source}: call items (n={len(pos)}) vs decline items (n={len(neg)}): "
              + ("–" if value is None else f"{value:.3f}"))
    if args.save:
        Path(args.save).write_text(json.dumps({"adapter": adapter, "items": items_path, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

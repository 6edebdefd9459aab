"""Teacher-forced assistant-turn scoring (``models.scoring.assistant_nll``): logits only at the
scored positions vs the full-vocabulary logits at every position, side by side.

The measure serves the complexity evaluator (dialog_generation), the curriculum's difficulty (sft)
and deficiency mining (irft). Prints seconds per pass for both paths, their ratio and the largest
score difference (the two must agree).

    .venv/bin/python benchmarks/assistant_scoring.py --data data/05_model_input/sft_train.jsonl --rounds 3
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import time
from unittest import mock


def _latest(path: str) -> str:
    if os.path.isdir(path):  # a versioned dataset folder: newest version
        return sorted(glob.glob(os.path.join(path, "*", os.path.basename(path))))[-1]
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/05_model_input/sft_train.jsonl", help="canonical dialogs (JSONL)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=32, help="dialogs scored per pass")
    args = parser.parse_args()

    import torch

    from toolace_kedro.models import load_policy
    from toolace_kedro.models import scoring
    from toolace_kedro.toolcalls import training_messages

    with open(_latest(args.data), encoding="utf-8") as fh:
        samples = [json.loads(line) for line in fh if line.strip()][: args.limit]
    conversations = [training_messages(s) for s in samples]
    model, tokenizer = load_policy(args.model)
    model.eval()
    tokens = sum(len(tokenizer(tokenizer.apply_chat_template(c, tokenize=False), add_special_tokens=False)["input_ids"])
                 for c in conversations)

    original = scoring._scored_logprobs

    def full_logits(model, ids, attention, keep):  # the old path: every position, whole vocabulary
        logits = model(input_ids=ids.to(model.device), attention_mask=attention.to(model.device)).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        token_lp = logprobs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        return token_lp[keep[:, :-1]].cpu()

    times: dict[str, list[float]] = {"masked": [], "full": []}
    results = {}
    scoring.assistant_nll(model, tokenizer, conversations[:2], args.batch_size)  # warm-up
    for _ in range(args.rounds):
        for name, fn in (("full", full_logits), ("masked", original)):
            with mock.patch.object(scoring, "_scored_logprobs", fn):
                start = time.perf_counter()
                results[name] = scoring.assistant_nll(model, tokenizer, conversations, args.batch_size)
                times[name].append(time.perf_counter() - start)
    diff = max(abs(a - b) for a, b in zip(results["full"], results["masked"]))
    full, masked = statistics.median(times["full"]), statistics.median(times["masked"])
    print(f"{len(conversations)} dialogs, {tokens} tokens, batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    print(f"full logits:   median {full:.2f} s per pass ({', '.join(f'{t:.2f}' for t in times['full'])})")
    print(f"masked logits: median {masked:.2f} s per pass ({', '.join(f'{t:.2f}' for t in times['masked'])})")
    print(f"speed-up {full / masked:.2f}x; largest score difference {diff:.2e}")


if __name__ == "__main__":
    main()

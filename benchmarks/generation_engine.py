"""Continuous batching vs ``transformers.generate`` static batches, side by side in one process.

Workload: dialog-like prompts (a tool list and a request, ~250-400 tokens) each answered 3 times
(self-consistency samples) with a JSON action whose length varies from row to row, constrained
by xgrammar, temperature 0.5 -- the shape of the dialog_generation call phase. Three engines
answer the same requests, alternating for ``--rounds`` rounds:

* ``static``: ``model.generate`` in batches of ``--batch`` rows sorted by prompt length, with
  xgrammar's HF logits processor (how the transformers backend worked before);
* ``continuous-fp32``: :class:`ContinuousBatcher`, prompts processed in float32;
* ``continuous``: :class:`ContinuousBatcher` with the backend's default ``prefill_dtype: auto``.

Prints wall time, generated tokens and tokens per second of each, and the speed-up ratios.
Usage: ``.venv/bin/python benchmarks/generation_engine.py [--prompts 16] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import torch

from toolace_kedro.llm import build_llm
from toolace_kedro.llm.continuous import ContinuousBatcher, GenRequest

TOOLS = [
    ("search_flights", "origin: string*, destination: string*, date: string*, passengers: integer",
     "Find flights between two cities on a date."),
    ("get_weather", "city: string*, days: integer", "Weather forecast for a city."),
    ("convert_currency", "amount: number*, from: string*, to: string*", "Convert money between currencies."),
    ("book_table", "restaurant: string*, time: string*, people: integer*", "Reserve a restaurant table."),
    ("translate_text", "text: string*, target_language: string*", "Translate text into another language."),
    ("find_hotels", "city: string*, check_in: string*, nights: integer, max_price: number",
     "Search hotels in a city."),
]
REQUESTS = [
    "I need to fly from Madrid to Oslo on 2025-03-14 with two friends.",
    "What's the weather going to be in Nairobi this week?",
    "How much is 250 euros in Japanese yen?",
    "Book a table for four at Chez Marie at 19:30.",
    "Please translate 'where is the train station' into Portuguese.",
    "Find me a hotel in Kyoto from 2025-05-02 for three nights under 150 dollars a night.",
    "Is it going to rain in Glasgow tomorrow?",
    "Convert 1200 Canadian dollars to pounds sterling, please.",
]
SCHEMA = {"type": "object", "properties": {
    "thought": {"type": "string", "maxLength": 60},
    "calls": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "object", "properties": {
        "name": {"type": "string", "enum": [t[0] for t in TOOLS]},
        "arguments": {"type": "object", "additionalProperties": {"type": ["string", "number"], "maxLength": 40},
                      "maxProperties": 4}}, "required": ["name", "arguments"]}}},
    "required": ["thought", "calls"]}


def conversations(n: int) -> list[list[dict]]:
    rng = random.Random(0)
    convs = []
    for i in range(n):
        tools = rng.sample(TOOLS, 4)
        system = ("You are an assistant with these functions:\n" +
                  "\n".join(f"{name}({sig}) - {desc}" for name, sig, desc in tools) +
                  "\nFirst think briefly: which function fits, which arguments the user gave. Then call it. "
                  "Answer in JSON.")
        convs.append([{"role": "system", "content": system},
                      {"role": "user", "content": REQUESTS[i % len(REQUESTS)] + f" (request {i})"}])
    return convs


def run_static(llm, convs, batch: int, seed: int) -> int:
    import xgrammar as xgr

    tok, model = llm.tokenizer, llm.model
    prompts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in convs]
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    grammar = llm._compiled(SCHEMA)
    produced = 0
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        enc = tok([prompts[i] for i in rows], return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(seed + start)
        out = model.generate(**enc, max_new_tokens=128, do_sample=True, temperature=0.5, top_p=0.95,
                             pad_token_id=tok.pad_token_id,
                             logits_processor=[xgr.contrib.hf.LogitsProcessor([grammar] * len(rows))])
        new = out[:, enc["input_ids"].shape[1]:]
        produced += int((~torch.isin(new, torch.tensor([tok.eos_token_id, tok.pad_token_id]))).sum())
    return produced


def run_continuous(llm, convs, batch: int, seed: int, prefill_model) -> int:
    tok = llm.tokenizer
    grammar = llm._compiled(SCHEMA)
    reqs = [GenRequest(prompt_ids=tok(tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False),
                                      add_special_tokens=False).input_ids,
                       max_tokens=128, temperature=0.5, top_p=0.95, seed=seed * 10_000 + i, grammar=grammar)
            for i, c in enumerate(convs)]
    engine = ContinuousBatcher(llm.model, {tok.eos_token_id, tok.pad_token_id}, tok.pad_token_id,
                               max_batch=batch, prefill_model=prefill_model)
    produced = []
    engine.run(reqs, lambda i, ids, cut: produced.append(len(ids)))
    return sum(produced)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    llm = build_llm({"model": "smollm2-135m-instruct", "progress": False, "batch_size": args.batch})
    bf16_name = llm._prefill_dtype()
    if bf16_name:
        from toolace_kedro.models import load_policy
        bf16 = load_policy(llm.config.model, dtype=bf16_name)[0]
    else:
        bf16 = None
    convs = [c for c in conversations(args.prompts) for _ in range(args.samples)]
    engines = {"static": lambda s: run_static(llm, convs, args.batch, s),
               "continuous-fp32": lambda s: run_continuous(llm, convs, args.batch, s, None),
               "continuous": lambda s: run_continuous(llm, convs, args.batch, s, bf16)}
    times = {k: [] for k in engines}
    tokens = {k: [] for k in engines}
    with torch.inference_mode():
        for r in range(args.rounds):
            for name, fn in engines.items():
                t = time.perf_counter()
                tokens[name].append(fn(r))
                times[name].append(time.perf_counter() - t)
                print(f"round {r} {name:16s} {times[name][-1]:6.1f} s  {tokens[name][-1]:5d} tokens", flush=True)
    print(f"\n{len(convs)} requests ({args.prompts} prompts x {args.samples} samples), batch {args.batch}, "
          f"torch threads {torch.get_num_threads()}, prefill dtype {bf16_name or 'same'}")
    base = statistics.median(times["static"])
    for name in engines:
        med = statistics.median(times[name])
        rate = sum(tokens[name]) / sum(times[name])
        print(f"{name:16s} median {med:6.1f} s  {rate:6.1f} generated tok/s  speed-up vs static {base / med:4.2f}x")
    print(json.dumps({k: statistics.median(v) for k, v in times.items()}))


if __name__ == "__main__":
    main()

"""Speed of the verification rule layer relative to JSON decoding.

Writes N generated canonical samples (all five dialog types, multi-turn ones, nested array
arguments, ToolACE ``dict``/``float`` schemas, some Chinese dialogs, and about 8 % with one defect
each) to a temporary JSONL file, then measures, side by side in each of R rounds:

* decode: read the file and ``json.loads`` every line;
* rules:  ``check_sample`` on every decoded sample (the tool cache is emptied first).

and prints the ratio rules / decode per round and its median. Goal: ≤ 5×.

    .venv/bin/python benchmarks/verification_speed.py            # 50,000 samples, 3 rounds
    .venv/bin/python benchmarks/verification_speed.py --without cache,fast_path   # what they buy
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import string
import tempfile
import time
from collections import Counter
from pathlib import Path

from toolace_kedro.pipelines.verification import executability
from toolace_kedro.pipelines.verification.rules import check_sample

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("alpha bravo city river north garden blue quick market table lamp orange stone music "
         "paper window travel summer winter coffee").split()


def _apis(rng: random.Random) -> list[dict]:
    """A pool of 48 APIs: the shipped seed APIs and ToolACE-style variants under new names."""
    seeds = [json.loads(line) for line in (ROOT / "data/01_raw/seed_apis.jsonl").read_text().splitlines()]
    extra = {
        "name": "book_trip", "description": "Book a trip for several travellers.",
        "parameters": {"type": "dict", "properties": {
            "travellers": {"type": "array", "items": {"type": "dict", "properties": {
                "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}, "required": ["name", "age"]}},
            "budget": {"type": "float"}, "currency": {"type": "string", "enum": ["EUR", "USD", "CHF"]},
            "legs": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
            "contact": {"type": "string", "format": "email"}},
            "required": ["travellers", "budget", "currency"]},
        "returns": {"type": "dict", "properties": {"booking_id": {"type": "string"}}}}
    pool = []
    for i in range(48):
        api = copy.deepcopy((seeds + [extra])[i % (len(seeds) + 1)])
        api["name"] = f"{api['name']}_{i}" if i % 3 else f"{api['name'].replace('_', ' ').title()} API {i}"
        api["description"] += f" Variant {i}."
        pool.append(api)
    return pool


def _value(schema: dict, rng: random.Random):
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type", "string")
    if kind in ("object", "dict"):
        props = schema.get("properties", {})
        return {k: _value(v, rng) for k, v in props.items() if k in schema.get("required", props) or rng.random() < 0.5}
    if kind in ("array", "list"):
        return [_value(schema.get("items", {"type": "string"}), rng) for _ in range(rng.randint(1, 3))]
    if kind in ("integer", "int"):
        return rng.randint(int(schema.get("minimum", 0)), int(schema.get("maximum", 500)))
    if kind in ("number", "float"):
        low, high = schema.get("minimum", 0), schema.get("maximum", 900)
        return rng.choice([rng.randint(int(low) + 1, int(high) - 1), round(rng.uniform(low, high), 2)])  # int ok
    if kind == "boolean":
        return rng.random() < 0.5
    if schema.get("format") == "date":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if schema.get("format") == "email":
        return f"{rng.choice(WORDS)}@example.org"
    pattern = schema.get("pattern", "")
    if pattern.startswith("^[A-Z"):  # the seed APIs' patterns: ^[A-Z]{3}$, ^[A-Z]{2}$, ^[A-Z.]{1,6}$
        return "".join(rng.choice(string.ascii_uppercase) for _ in range(3 if "{3}" in pattern else 2))
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _exchange(tools: list[dict], n_calls: int, rng: random.Random) -> list[dict]:
    calls = [{"name": api["name"], "arguments": _value(api["parameters"], rng)}
             for api in (rng.choice(tools) for _ in range(n_calls))]
    results = [{"name": c["name"], "results": {"status": "ok", "value": rng.randint(0, 99)}} for c in calls]
    return [{"role": "assistant", "content": "", "thought": _sentence(rng, 5), "tool_calls": calls},
            {"role": "tool", "content": results},
            {"role": "assistant", "content": _sentence(rng, 12)}]


def generate(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    pool = _apis(rng)
    samples = []
    for i in range(n):
        kind = rng.choice(["single", "parallel", "dependent", "non_tool", "clarify"])
        tools = copy.deepcopy(rng.sample(pool, rng.randint(2, 4)))
        messages = [{"role": "user", "content": _sentence(rng, 14)}]
        if kind == "non_tool":
            if rng.random() < 0.15:
                messages = [{"role": "user", "content": "为什么切洋葱会让人流泪？请简单解释一下。"},
                            {"role": "assistant", "content": "洋葱被切开时会释放一种刺激眼睛的气体，所以会流泪。"}]
            else:
                messages.append({"role": "assistant", "content": _sentence(rng, 20)})
        elif kind == "clarify":
            messages += [{"role": "assistant", "content": "Which " + rng.choice(WORDS) + " do you mean?"},
                         {"role": "user", "content": _sentence(rng, 4)}] + _exchange(tools[:1], 1, rng)
        elif kind == "dependent":
            messages += _exchange(tools[:1], 1, rng)[:2] + _exchange(tools[1:2], 1, rng)
        else:
            messages += _exchange(tools[:2], 2 if kind == "parallel" else 1, rng)
        if rng.random() < 0.2 and messages[0]["content"].isascii():  # multi-turn
            messages += [{"role": "user", "content": _sentence(rng, 8)}] + _exchange(tools, 1, rng)
        sample = {"id": f"b{i}", "type": kind, "tools": tools, "messages": messages, "meta": {"generator": "bench"}}
        if rng.random() < 0.08:
            _break(sample, rng)
        samples.append(sample)
    return samples


def _break(sample: dict, rng: random.Random) -> None:
    """One defect: a wrong value, a missing argument, a dropped turn, a bad character..."""
    calls = [c for m in sample["messages"] for c in m.get("tool_calls") or []]
    kind = rng.choice(["value", "drop_arg", "drop_turn", "chars", "unknown"])
    if kind == "value" and calls:
        call = rng.choice(calls)
        if call["arguments"]:
            call["arguments"][rng.choice(list(call["arguments"]))] = {"bad": True}
    elif kind == "drop_arg" and calls and rng.choice(calls)["arguments"]:
        call = rng.choice(calls)
        call["arguments"].pop(next(iter(call["arguments"])), None)
    elif kind == "drop_turn":
        sample["messages"].pop()
    elif kind == "unknown" and calls:
        rng.choice(calls)["name"] = "no_such_function"
    else:
        sample["messages"][-1]["content"] += "\ufffd"


class _NoKeys:
    """Stands in for ``marshal`` so that no tool is ever cached (``--without cache``)."""

    @staticmethod
    def dumps(*args):
        raise ValueError("no cache")


def measure(path: Path, rounds: int) -> list[tuple[float, float, Counter]]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        with path.open(encoding="utf-8") as fh:
            decoded = [json.loads(line) for line in fh]
        decode_s = time.perf_counter() - start
        executability._cache.clear()
        start = time.perf_counter()
        verdicts = Counter(rule for s in decoded for rule in check_sample(s) or ["pass"])
        out.append((decode_s, time.perf_counter() - start, verdicts))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--without", default="", help="comma-separated: cache (the per-tool cache), fast_path")
    args = parser.parse_args()
    without = set(filter(None, args.without.split(",")))
    if "fast_path" in without:
        executability.compile_validity = lambda schema: None
    if "cache" in without:
        executability.marshal = _NoKeys
    samples = generate(args.samples)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "samples.jsonl"
        path.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), encoding="utf-8")
        size_mb = path.stat().st_size / 1e6
        results = measure(path, args.rounds)
    ratios = [rules / decode for decode, rules, _ in results]
    for i, (decode, rules, _) in enumerate(results, 1):
        print(f"round {i}: decode {decode:.2f} s, rules {rules:.2f} s, ratio {rules / decode:.2f}x")
    verdicts = results[-1][2]
    print(f"{args.samples} samples ({size_mb:.1f} MB): {verdicts['pass']} pass; rule ids found: "
          f"{dict(sorted((k, v) for k, v in verdicts.items() if k != 'pass'))}")
    label = f" (without {', '.join(sorted(without))})" if without else ""
    print(f"rules{label} / decode, median of {args.rounds}: {statistics.median(ratios):.2f}x "
          f"({args.samples / statistics.median(r for _, r, _ in results):,.0f} samples/s; goal <= 5x)")


if __name__ == "__main__":
    main()

"""Speed of the schema-aware argument sampler (``toolcalls.values``), in values per second.

* seed APIs: ``sample_arguments`` with every parameter of the shipped seed APIs, again and again
  (the steady state of dialog generation: a small API pool, validators cached);
* BFCL: ``sample_value`` for every parameter of BFCL's function docs (from the ``bfcl-eval``
  wheel, when installed), a first pass over ~1,700 distinct schemas and a second one.

Goal: far below an LLM call, i.e. at least 1,000 values/s.

    .venv/bin/python benchmarks/value_sampler_speed.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import time
from pathlib import Path

from toolace_kedro.toolcalls import sample_arguments, sample_value

ROOT = Path(__file__).resolve().parents[1]
BFCL_FILES = ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple", "live_multiple")


def seed_rate(seconds: float) -> float:
    apis = [json.loads(line) for line in (ROOT / "data/01_raw/seed_apis.jsonl").read_text().splitlines()]
    rng, count, start = random.Random(0), 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for api in apis:
            count += len(sample_arguments(api, rng, names=api["parameters"]["properties"]))
    return count / (time.perf_counter() - start)


def bfcl_parameters() -> list[tuple[str, dict]]:
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None:
        return []
    data = Path(spec.submodule_search_locations[0]) / "data"
    params = {}
    for name in BFCL_FILES:
        for line in (data / f"BFCL_v4_{name}.json").read_text().splitlines():
            for function in json.loads(line)["function"]:
                for key, schema in function["parameters"].get("properties", {}).items():
                    params[(function["name"], key)] = schema
    return [(key, schema) for (_, key), schema in params.items()]


def bfcl_rate(params: list[tuple[str, dict]]) -> tuple[float, int]:
    rng, failed, start = random.Random(0), 0, time.perf_counter()
    for name, schema in params:
        try:
            sample_value(name, schema, rng)
        except ValueError:  # BFCL has a few unsatisfiable schemas (an enum of strings on a boolean)
            failed += 1
    return len(params) / (time.perf_counter() - start), failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sample_value("warm_up", {"type": "string"}, random.Random(0))  # Faker's import and set-up (~0.2 s)
    print(f"seed APIs, all parameters: {seed_rate(args.seconds):,.0f} values/s")
    params = bfcl_parameters()
    if params:
        first, failed = bfcl_rate(params)
        second, _ = bfcl_rate(params)
        print(f"BFCL, {len(params):,} parameters ({failed} unsatisfiable): first pass {first:,.0f} values/s, "
              f"second pass {second:,.0f} values/s")
    else:
        print("BFCL: bfcl-eval is not installed, skipped")


if __name__ == "__main__":
    main()

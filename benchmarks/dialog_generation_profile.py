"""Where the time of `generate_dialogs` goes, and side-by-side comparisons of LLM settings.

Runs the dialog_generation node on the latest `api_pool` version with the project's parameters
(no response cache, no checkpoints), once per variant, and prints per variant: wall time, dialogs
kept, tokens, and the engine's breakdown -- decode forward passes, prefill forward passes, the
rest of the refills (cache merges and request set-up), xgrammar compilations, the mean rows per
decode pass, and prompt positions reused from stored prefixes. The remainder of the wall time is
the complexity evaluator, the sampling step and the agents' own Python.

    .venv/bin/python benchmarks/dialog_generation_profile.py [--dialogs 100]
        [--variant "" --variant "llm.prefix_cache_tokens=0"] [--set dialog_generation.complexity.enabled=false]

A variant is a comma-separated list of `key=value` overrides (`llm.…` or `dialog_generation.…`),
the empty string the project's defaults; variants run one after another in the order given,
after an untimed 2-dialog run that loads the models (`--no-warmup` skips it).
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from collections import Counter
from pathlib import Path

import yaml
from _overrides import apply_overrides

from toolace_kedro.pipelines.dialog_generation import nodes

ROOT = Path(__file__).resolve().parents[1]


def _override(llm: dict, params: dict, assignments: str) -> None:
    apply_overrides({"llm": llm, "dialog_generation": params}, filter(None, (a.strip() for a in assignments.split(","))))


def latest_pool() -> tuple[str, list[dict]]:
    """The latest `api_pool` version in data/03_primary: its folder and its APIs."""
    folder = sorted(glob.glob(str(ROOT / "data/03_primary/api_pool.jsonl/*")))
    if not folder:
        raise SystemExit("no api_pool version in data/03_primary: run `kedro run --pipelines api_synthesis` first")
    return folder[-1], [json.loads(line) for line in Path(folder[-1], "api_pool.jsonl").read_text().splitlines() if line]


def run(pool: list[dict], dialogs: int, common: str, variant: str) -> dict:
    llm = yaml.safe_load((ROOT / "conf/base/parameters.yml").read_text())["llm"]
    params = yaml.safe_load((ROOT / "conf/base/parameters_dialog_generation.yml").read_text())["dialog_generation"]
    params["n_dialogs"] = dialogs
    _override(llm, params, common)
    _override(llm, params, variant)
    llm.update(cache_dir=None, progress=False)
    params["checkpoint"] = None
    clients = []
    build = nodes.build_llm

    def keep(config):
        clients.append(build(config))
        return clients[-1]

    nodes.build_llm = keep
    try:
        start = time.perf_counter()
        samples, report = nodes.generate_dialogs(pool, llm, params)
        wall = time.perf_counter() - start
    finally:
        nodes.build_llm = build
    client = clients[0]
    engine = getattr(client, "_engine", None)
    return {"wall": wall, "dialogs": len(samples), "types": dict(Counter(s["type"] for s in samples)),
            "dropped": report["dropped"], "llm": report["llm"], "engine": dict(engine.stats) if engine else {},
            "grammars": dict(getattr(client, "grammar_stats", {}))}


def show(name: str, r: dict) -> None:
    e, g, u = r["engine"], r["grammars"], r["llm"]
    print(f"\n== variant {name or '(defaults)'}")
    print(f"wall {r['wall']:.1f} s; dialogs {r['dialogs']} {r['types']}; dropped {r['dropped']}")
    print(f"requests {u['requests']}, prompt tokens {u['prompt_tokens']}, completion tokens {u['completion_tokens']}")
    if e:
        rest = e["rebuild_s"] - e["prefill_s"] - g.get("seconds", 0.0)
        print(f"decode passes {e['decode_s']:.1f} s ({e['steps']} passes, {e['step_rows'] / max(1, e['steps']):.1f} "
              f"rows each); prefill passes {e['prefill_s']:.1f} s ({e['prefill_tokens']} positions, "
              f"{e.get('prefill_padded', 0)} computed with the padding, {e['prefix_reused_tokens']} reused from "
              f"stored prefixes, {e['prefill_shared']} identical prompts "
              f"shared); grammar compilation {g.get('seconds', 0.0):.1f} s ({g.get('compiled', 0)}); rest of the "
              f"refills {rest:.1f} s ({e['rebuilds']} refills); everything else {r['wall'] - e['decode_s'] - e['rebuild_s']:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialogs", type=int, default=100)
    parser.add_argument("--variant", action="append", default=None)
    parser.add_argument("--set", default="", help="overrides applied to every variant")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="skip the untimed 2-dialog run that loads the models first")
    args = parser.parse_args()
    folder, pool = latest_pool()
    print(f"api_pool {folder} ({len(pool)} APIs), {args.dialogs} dialogs planned")
    variants = args.variant or [""]
    if args.warmup:  # loading the models and first-use set-up would otherwise count against the first variant
        run(pool, 2, args.set, variants[0])
    results = {}
    for variant in variants:
        results[variant] = run(pool, args.dialogs, args.set, variant)
        show(variant, results[variant])
    if len(results) > 1:
        first = next(iter(results))
        for variant, r in results.items():
            print(f"wall of {variant or '(defaults)'} / {first or '(defaults)'}: "
                  f"{r['wall'] / results[first]['wall']:.2f}")


if __name__ == "__main__":
    main()

"""The evaluation stage's nodes on the configured item set for three policies, timed node by node.

Runs ``pipelines/evaluation`` (build_eval_items, predict_base, predict_sft, predict_irft,
evaluate, decontaminate) with Kedro's ``SequentialRunner`` on an in-memory catalog, with the
parameters of ``conf/<env>`` and the real embedded model. When no trained policies exist, stand-ins
take their place: ``--adapter`` (an sft adapter directory) and ``--irft`` (a merged policy
directory); ``--make-stand-ins DIR`` writes both there (a LoRA adapter of the sft stage's shape
with its B matrices zero, so it answers as the base model, and that adapter merged into a full
copy), which costs what trained ones cost to load and decode as long as the answers are alike.
The held-out synthetic dialogs come from ``--sft-test`` or are ``--dialogs`` stand-ins (one
flight-search call each). The response cache is off unless ``--cache-dir``.

    .venv/bin/python benchmarks/evaluation_stage.py --make-stand-ins /tmp/stand_ins
    .venv/bin/python benchmarks/evaluation_stage.py --adapter /tmp/stand_ins/adapter --irft /tmp/stand_ins/irft
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

ROOT = Path(__file__).resolve().parents[1]


class _Kept(MemoryDataset):
    """Not released by the runner between the single-node runs."""

    def _release(self) -> None:
        pass


CITIES = ["JFK", "LAX", "SFO", "ORD", "SEA", "BOS", "MIA", "DEN", "ATL", "IAD", "PHX", "DFW"]


def stand_in_dialogs(n: int) -> list[dict]:
    api = {"name": "search_flights", "description": "Search flights between two airports on a date.",
           "parameters": {"type": "object", "properties": {
               "origin": {"type": "string", "description": "IATA code"},
               "destination": {"type": "string", "description": "IATA code"},
               "date": {"type": "string", "description": "YYYY-MM-DD"}}, "required": ["origin", "destination", "date"]}}
    dialogs = []
    for i in range(n):
        a, b, date = CITIES[i % len(CITIES)], CITIES[(i + 3) % len(CITIES)], f"2025-03-{i + 1:02d}"
        call = {"name": "search_flights", "arguments": {"origin": a, "destination": b, "date": date}}
        dialogs.append({"id": f"stand_in_{i}", "type": "single", "tools": [api], "messages": [
            {"role": "user", "content": f"Find me a flight from {a} to {b} on {date}."},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": [{"name": "search_flights", "results": {"flights": [{"id": f"UA{i}"}]}}]},
            {"role": "assistant", "content": f"Flight UA{i} goes from {a} to {b}."}]})
    return dialogs


def make_stand_ins(folder: Path, model: str) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolace_kedro.models import resolve_model

    sft = yaml.safe_load((ROOT / "conf" / "base" / "parameters_sft.yml").read_text())["sft"]["lora"]
    torch.manual_seed(0)
    path = resolve_model(model)
    peft = get_peft_model(AutoModelForCausalLM.from_pretrained(path),
                          LoraConfig(r=sft["r"], lora_alpha=sft["alpha"], target_modules="all-linear",
                                     task_type="CAUSAL_LM"))
    peft.save_pretrained(folder / "adapter")
    merged = peft.merge_and_unload()
    merged.save_pretrained(folder / "irft")
    AutoTokenizer.from_pretrained(path).save_pretrained(folder / "irft")
    print(f"stand-ins written: {folder / 'adapter'}, {folder / 'irft'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="base")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--irft", default=None)
    parser.add_argument("--make-stand-ins", default=None, metavar="DIR")
    parser.add_argument("--sft-test", default=None)
    parser.add_argument("--dialogs", type=int, default=9, help="stand-in held-out dialogs without --sft-test")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()

    params = {}
    for env in dict.fromkeys(["base", args.env]):
        for name in ("parameters", "parameters_sft", "parameters_evaluation"):
            file = ROOT / "conf" / env / f"{name}.yml"
            if file.is_file():
                params.update(yaml.safe_load(file.read_text()))  # an environment's top-level keys replace
    model = params["sft"]["policy_model"]
    if args.make_stand_ins:
        make_stand_ins(Path(args.make_stand_ins), model)
        return
    if not (args.adapter and args.irft):
        parser.error("--adapter and --irft are needed (or --make-stand-ins DIR first)")

    from toolace_kedro.datasets import BFCLDataset, BFCLMultiTurnDataset, JSONLinesDataset
    from toolace_kedro.pipelines.evaluation import create_pipeline

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("toolace_kedro.pipelines.evaluation").setLevel(logging.INFO)
    dialogs = list(JSONLinesDataset(filepath=args.sft_test).load()) if args.sft_test else stand_in_dialogs(args.dialogs)
    inputs = {"bfcl_data": BFCLDataset(categories=params["evaluation"]["bfcl"]["categories"]).load(),
              "bfcl_multi_turn_data": BFCLMultiTurnDataset().load(),
              "sft_test": dialogs, "sft_train": dialogs, "sft_adapter": args.adapter, "irft_policy": args.irft,
              "params:sft.policy_model": model, "params:evaluation": params["evaluation"],
              "params:llm": {**params["llm"], "cache_dir": args.cache_dir, "progress": False}}
    pipeline = create_pipeline()
    catalog = DataCatalog({name: _Kept() for name in pipeline.datasets()})
    for name, value in inputs.items():
        catalog[name] = _Kept(value)
    seconds = {}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    for node in pipeline.nodes:  # one node at a time, in the pipeline's order, to time each
        began = time.perf_counter()
        SequentialRunner().run(pipeline.only_nodes(node.name), catalog)
        seconds[node.name] = time.perf_counter() - began
    total = time.perf_counter() - start
    print(f"evaluation stage: {total:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in seconds.items())}); "
          f"1-min load average {load:.1f} before, {os.getloadavg()[0]:.1f} after; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

"""The learning curve: how BFCL accuracy and held-out exact-call accuracy grow with the number of
training dialogs, with one recipe throughout.

One pool of dialogs (a ``dialogs``/``verified_dialogs`` JSONL file, e.g. from
``kedro run --pipelines dialog_generation,verification --params dialog_generation.n_dialogs=1200``)
is split once (seeded, stratified: the held-out synthetic set is the same for every size); the
training dialogs are shuffled once and nested subsets of the first 25, 50, 100, ... are each
trained with the sft stage's own nodes and parameters (``conf/base/parameters_sft.yml``, no
MLflow) and scored on the same items as the evaluation stage (BFCL's prompt, ≥ 40 items of
simple_python, irrelevance and live_simple; the held-out dialogs) -- with Wilson intervals and,
against the base policy, exact McNemar tests. Each size's scores are saved as it ends, so a
killed run resumes where it stopped.

    .venv/bin/python benchmarks/learning_curve.py --pool data/04_feature/verified_dialogs.jsonl/<v>/verified_dialogs.jsonl \\
        --sizes 25,50,100,200,400 --out benchmarks/results/learning_curve

prints the table and writes ``<out>.json``, ``<out>.md`` and ``<out>.png``. ``--train-seed S``
trains with sft seed ``S`` (batch order, LoRA init) on the same split and subsets: at a few dozen
dialogs the call/decline choice of one training run swings with it, so compare sizes or recipes
over several training seeds (one ``--out`` each).

On several cores the sizes can run side by side, one process per lane (``OMP_NUM_THREADS=1``
each): ``--base-from <lane>.json`` takes the base policy's scores from another lane's state on
the same pool (checked: same split, same items) instead of scoring it again, and
``--merge <lane>.json ...`` combines finished lanes into ``--out`` and writes its table and plot
without training anything. The committed curves: ``benchmarks/results/learning_curve_20261206.*``
on ``learning_curve_pool_20261206.jsonl.gz`` (the generation defaults of that day, more APIs than
the default run), and the older ``learning_curve.*`` on ``learning_curve_pool.jsonl.gz``
(rows in ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import copy
import functools
import gzip
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

CATEGORIES = {"simple_python": 40, "irrelevance": 40, "live_simple": 40}
HELD_OUT = ("synthetic_exact_call", "synthetic_no_call")


@functools.cache
def _conf() -> dict:
    """conf/base's parameters as `kedro run` resolves them (``${globals:...}`` paths included: read
    as plain YAML, the LLM cache went to a folder literally named ``${globals:...}``)."""
    from kedro.config import OmegaConfigLoader

    return OmegaConfigLoader(str(ROOT / "conf"), base_env="base", default_run_env="base")["parameters"]


def _params(name: str) -> dict:
    return copy.deepcopy(_conf()[name])


def _llm_params() -> dict:
    return copy.deepcopy(_conf()["llm"])


def read_pool(path: str | Path) -> list[dict]:
    """The dialogs of a JSONL file, gzip-compressed where it ends in ``.gz``."""
    path = Path(path)
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def nested_subsets(train: list[dict], sizes: list[int], seed: int) -> dict[int, list[dict]]:
    """The first ``n`` of one seeded shuffle of ``train`` for each size (each subset contains the
    smaller ones); a size beyond the pool is left out."""
    order = list(train)
    random.Random(seed).shuffle(order)
    return {n: order[:n] for n in sizes if n <= len(order)}


def training_params(sft: dict, train_seed: int | None) -> dict:
    """The sft parameters of the training runs: ``train_seed`` replaces the seed (batch order, LoRA
    init) while the split, made with ``sft`` itself, stays."""
    return sft if train_seed is None else {**sft, "seed": train_seed}


def evaluation_params(per_category: int) -> dict:
    params = _params("evaluation")
    params["bfcl"]["categories"] = list(CATEGORIES)
    params["bfcl"]["sample_size"] = {c: max(n, per_category) for c, n in CATEGORIES.items()}
    params["multi_turn"]["categories"] = []  # the single-turn categories above only
    return params


def predict(items: list[dict], adapter: str | None, eval_params: dict, label: str) -> list[dict]:
    """Greedy answers of the base policy (``adapter`` None) or an adapter, as the evaluation stage makes them."""
    from toolace_kedro.pipelines.evaluation.nodes import _predict

    return _predict(items, _llm_params(), eval_params, _params("sft")["policy_model"], adapter, label)


def score(items: list[dict], adapter: str | None, eval_params: dict, label: str) -> dict:
    from toolace_kedro.pipelines.evaluation.nodes import score_model

    return score_model(items, predict(items, adapter, eval_params, label))


def setup(pool_path: str, overrides: list[str], train_seed: int | None, per_category: int) -> dict:
    """What every run on a pool shares: the pool, the split (the sft stage's, with ``overrides``),
    the training parameters (``train_seed``), the evaluation parameters and the items."""
    from _overrides import apply_overrides

    from toolace_kedro.datasets.bfcl import BFCLDataset
    from toolace_kedro.pipelines.evaluation.nodes import build_items
    from toolace_kedro.pipelines.sft.nodes import split_train_test

    pool = read_pool(pool_path)
    sft = _params("sft")
    sft["training"].update(report_to="none", system_metrics=False)
    sft["measure_test_nll"] = False
    apply_overrides(sft, overrides)
    train, test, split = split_train_test(pool, sft)
    eval_params = evaluation_params(per_category)
    items, _ = build_items(BFCLDataset(categories=list(CATEGORIES)).load(), test, eval_params)
    return {"pool": pool, "train": train, "test": test, "split": split, "items": items, "eval_params": eval_params,
            "trainer": training_params(sft, train_seed)}


def train_and_predict(subset: list[dict], run: dict, label: str) -> list[dict]:
    """The sft recipe (curriculum and all) trained on ``subset``, then its answers to the run's items."""
    from toolace_kedro.pipelines.sft.nodes import order_curriculum, train_sft

    with tempfile.TemporaryDirectory(prefix="curve-") as work:
        adapter, _, _ = train_sft(order_curriculum(subset, run["trainer"]), run["test"], run["trainer"])
        adapter["model"].save_pretrained(work)
        adapter["tokenizer"].save_pretrained(work)
        return predict(run["items"], work, run["eval_params"], label)


def summary(scores: dict) -> dict:
    """n, correct and the Wilson interval per BFCL category and for held-out exact calls / no-calls
    (the evaluation stage's own figures), keyed like the stage's comparison scopes."""
    out = {c: {"n": s["n"], "correct": s["correct"], "low": s["ci_low"], "high": s["ci_high"]}
           for c, s in scores["bfcl"].items()}
    intervals = (scores.get("synthetic") or {}).get("intervals", {})
    for scope, key in (("synthetic_exact_call", "exact_call_accuracy"), ("synthetic_no_call", "no_call_accuracy")):
        s = intervals.get(key)
        if s and s["n"]:
            out[scope] = {"n": s["n"], "correct": s["correct"], "low": s["ci_low"], "high": s["ci_high"]}
    return out


def _item_ids(scores: dict) -> list[str]:
    return sorted(v["id"] for v in scores["verdicts"])


def merge_states(states: list[dict], where: list[str]) -> dict:
    """One curve state from lanes of the same curve: the same pool, split, recipe and training
    seed, the same base scores, and any size scored in two lanes scored alike; an error names the
    lane that differs."""
    merged = copy.deepcopy(states[0])
    for state, name in zip(states[1:], where[1:]):
        for key in ("pool_size", "split", "overrides", "train_seed"):
            if state.get(key) != merged.get(key):
                raise SystemExit(f"{name}: its {key} differs from {where[0]}'s: not a lane of the same curve")
        for size, result in state["results"].items():
            if size in merged["results"] and merged["results"][size]["scores"] != result["scores"]:
                raise SystemExit(f"{name}: size {size} was scored differently in {where[0]}")
            merged["results"].setdefault(size, result)
    merged["sizes"] = ",".join(s for s in sorted(merged["results"], key=int) if s != "0")
    return merged


def base_from(state: dict, where: str, split: dict, items: list[dict]) -> dict:
    """The base policy's result of another curve state, when it was scored on these items."""
    if "0" not in state.get("results", {}):
        raise SystemExit(f"{where}: no base result (size 0) in it yet")
    if state.get("split") != split:
        raise SystemExit(f"{where}: made on another split of the pool (another pool or sft split settings)")
    base = state["results"]["0"]
    if _item_ids(base["scores"]) != sorted(i["id"] for i in items):
        raise SystemExit(f"{where}: its base was scored on other items (another --per-category?)")
    return base


def versus_base(base: dict, other: dict) -> dict:
    """Exact McNemar comparisons against the base policy on the same items, per scope."""
    from toolace_kedro.pipelines.evaluation.comparison import paired_comparisons

    return paired_comparisons({"base": base["verdicts"], "sft": other["verdicts"]})["sft_vs_base"]


def table(results: dict) -> str:
    columns = [*CATEGORIES, *HELD_OUT]
    lines = ["| training dialogs | " + " | ".join(columns) + " | minutes |", "|---" * (len(columns) + 2) + "|"]
    for size in sorted(results, key=int):
        row = results[size]
        cells = []
        for c in columns:
            s = row["summary"].get(c)
            if s is None:
                cells.append("–")
                continue
            mark = ""
            cmp = row.get("versus_base", {}).get(c)
            if cmp and cmp["verdict"] != "no significant difference":
                mark = " ↑" if cmp["verdict"] == "better" else " ↓"
            cells.append(f"{s['correct']}/{s['n']} ({100 * s['correct'] / s['n']:.0f} %, "
                         f"{100 * s['low']:.0f}–{100 * s['high']:.0f}){mark}")
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {row.get('minutes', '')} |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results, key=int)
    xs = [max(int(s), 1) for s in sizes]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for column in [*CATEGORIES, *HELD_OUT]:
        points = [(x, results[s]["summary"].get(column)) for x, s in zip(xs, sizes)]
        points = [(x, p) for x, p in points if p]
        if not points:
            continue
        acc = [100 * p["correct"] / p["n"] for _, p in points]
        err = [[max(0.0, a - 100 * p["low"]) for a, (_, p) in zip(acc, points)],  # (rounding at 0 and 100 %)
               [max(0.0, 100 * p["high"] - a) for a, (_, p) in zip(acc, points)]]
        ax.errorbar([x for x, _ in points], acc, yerr=err, marker="o", capsize=3, label=column)
    ax.set_xscale("symlog", linthresh=25)
    ax.set_xlabel("training dialogs (0 = base policy)")
    ax.set_ylabel("accuracy (%), Wilson 95 % interval")
    ax.set_ylim(0, 100)
    ax.set_title("Learning curve: sft on nested subsets of one pool")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def render(results: dict, out: Path) -> None:
    """The curve's table (printed and written to ``<out>.md``) and plot (``<out>.png``)."""
    md = table(results)
    out.with_suffix(".md").write_text(md + "\n")
    plot(results, out.with_suffix(".png"))
    print(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", help="dialogs JSONL (canonical dialogs), optionally .gz (required unless --merge)")
    ap.add_argument("--sizes", default="25,50,100,200,400")
    ap.add_argument("--per-category", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-seed", type=int, default=None,
                    help="sft seed of the training only (curriculum order, batches, LoRA init); the split and the "
                         "subsets stay: repeat a size with other training seeds to see how much one run decides")
    ap.add_argument("--set", nargs="*", default=[], help="sft parameter overrides, e.g. training.epochs=2")
    ap.add_argument("--out", default="benchmarks/results/learning_curve")
    ap.add_argument("--base-from", help="another lane's state (.json) on the same pool: its base scores are reused")
    ap.add_argument("--merge", nargs="+", metavar="STATE",
                    help="finished lanes' states (.json) of one curve: write their union to --out, render, train nothing")
    args = ap.parse_args()
    out = Path(args.out)
    if args.merge:
        merged = merge_states([json.loads(Path(p).read_text()) for p in args.merge], args.merge)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(merged, indent=1))
        render(merged["results"], out)
        return
    if not args.pool:
        ap.error("--pool is required (unless --merge)")

    from toolace_kedro.pipelines.evaluation.nodes import score_model

    run = setup(args.pool, args.set, args.train_seed, args.per_category)
    pool, train, split, items, eval_params = run["pool"], run["train"], run["split"], run["items"], run["eval_params"]
    out.parent.mkdir(parents=True, exist_ok=True)
    state_file = out.with_suffix(".json")
    results = json.loads(state_file.read_text())["results"] if state_file.exists() else {}
    print(f"pool {len(pool)} dialogs: {len(train)} training, {len(run['test'])} held out; {len(items)} items", flush=True)

    def save() -> None:
        state_file.write_text(json.dumps({"pool": args.pool, "pool_size": len(pool), "split": split,
                                          "sizes": args.sizes, "overrides": args.set, "train_seed": args.train_seed,
                                          "results": results}, indent=1))

    if "0" not in results and args.base_from:
        results["0"] = base_from(json.loads(Path(args.base_from).read_text()), args.base_from, split, items)
        save()
    if "0" not in results:
        started = time.perf_counter()
        base = score(items, None, eval_params, "base")
        results["0"] = {"scores": base, "summary": summary(base), "minutes": round((time.perf_counter() - started) / 60, 1)}
        save()
    base = results["0"]["scores"]
    for size, subset in nested_subsets(train, [int(s) for s in args.sizes.split(",")], args.seed).items():
        if str(size) in results:
            continue
        started = time.perf_counter()
        scores = score_model(items, train_and_predict(subset, run, f"sft-{size}"))
        results[str(size)] = {"scores": scores, "summary": summary(scores), "versus_base": versus_base(base, scores),
                              "minutes": round((time.perf_counter() - started) / 60, 1)}
        save()
        print(table(results), flush=True)
    render(results, out)


if __name__ == "__main__":
    main()

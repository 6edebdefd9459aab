"""Two sft recipes compared over several training seeds, from ``learning_curve.py`` outputs.

One training run of the 135M policy on a few dozen dialogs decides the call/decline choice partly
by chance (``benchmarks/RESULTS.md``: irrelevance 7 to 25 of 40 over four seeds of the same data),
so a recipe is judged on several runs: each variant is a list of ``learning_curve.py --out`` JSON
files, one per training seed, in the same seed order for both variants and on the same pool,
split and items. For each scope the script prints every run's count, the mean over runs, and one
exact McNemar test over all (seed, item) pairs -- the run-to-run spread counts against the
difference instead of being hidden in one draw. (The same item appears once per seed and its
pairs are not independent, so read p as a guide; the per-run counts show whether every seed
moves the same way.)

    .venv/bin/python benchmarks/seed_compare.py --size 63 \\
        --a none=out/none_s0.json,out/none_s1.json,out/none_s2.json \\
        --b phase=out/phase_s0.json,out/phase_s1.json,out/phase_s2.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SCOPES = ("simple_python", "live_simple", "irrelevance", "bfcl_ast", "synthetic_exact_call", "synthetic_no_call")


def _variant(spec: str) -> tuple[str, list[Path]]:
    name, _, files = spec.partition("=")
    if not files:
        raise SystemExit(f"--a/--b take name=file1,file2,...; got {spec!r}")
    return name, [Path(f) for f in files.split(",")]


def run_verdicts(path: Path, size: str) -> dict[str, dict[tuple[str, str], bool]]:
    """``{scope: {(source, id): correct}}`` of the run at ``size`` in one ``learning_curve.py`` output."""
    from toolace_kedro.pipelines.evaluation.comparison import scopes

    results = json.loads(path.read_text())["results"]
    if size not in results:
        raise SystemExit(f"{path}: no result for {size} training dialogs (has {sorted(results, key=int)})")
    verdicts = results[size]["scores"]["verdicts"]
    return {scope: {(v["source"], str(v["id"])): bool(v["correct"]) for v in items}
            for scope, items in scopes(verdicts).items()}


def compare(a: list[dict], b: list[dict]) -> dict[str, dict]:
    """Per scope: each run's correct count of both variants, n per run, and the pooled paired test
    over (run, item) pairs (``gained``: right under b only)."""
    from toolace_kedro.stats import paired_comparison

    out = {}
    for scope in SCOPES:
        if not all(scope in r for r in a + b):
            continue
        first, second = [], []
        for ra, rb in zip(a, b):
            if set(ra[scope]) != set(rb[scope]):
                raise SystemExit(f"{scope}: the two variants were scored on different items")
            keys = sorted(ra[scope])
            first += [ra[scope][k] for k in keys]
            second += [rb[scope][k] for k in keys]
        out[scope] = {"n": len(a[0][scope]), "a": [sum(r[scope].values()) for r in a],
                      "b": [sum(r[scope].values()) for r in b], "paired": paired_comparison(first, second)}
    return out


def table(name_a: str, name_b: str, rows: dict[str, dict]) -> str:
    lines = [f"| scope | n per run | {name_a} per run (mean) | {name_b} per run (mean) | gained / lost | p | verdict |",
             "|---|---|---|---|---|---|---|"]
    def cell(counts: list[int]) -> str:
        return f"{', '.join(map(str, counts))} ({sum(counts) / len(counts):.1f})"

    for scope, r in rows.items():
        p = r["paired"]
        lines.append(f"| {scope} | {r['n']} | {cell(r['a'])} | {cell(r['b'])} | +{p['gained']} −{p['lost']} | "
                     f"{p['p_value']:.3g} | {p['verdict']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", required=True, help="training dialogs of the runs compared (a learning-curve size)")
    ap.add_argument("--a", required=True, help="name=file,file,... (the earlier / reference recipe)")
    ap.add_argument("--b", required=True, help="name=file,file,... (the recipe under test), same seed order")
    args = ap.parse_args()
    (name_a, files_a), (name_b, files_b) = _variant(args.a), _variant(args.b)
    if len(files_a) != len(files_b):
        raise SystemExit(f"{len(files_a)} runs of {name_a} against {len(files_b)} of {name_b}: pair them by seed")
    rows = compare([run_verdicts(f, args.size) for f in files_a], [run_verdicts(f, args.size) for f in files_b])
    print(f"{len(files_a)} training seeds, {args.size} training dialogs; paired over (seed, item)")
    print(table(name_a, name_b, rows))


if __name__ == "__main__":
    main()

"""benchmarks/seed_compare.py: two recipes paired over (training seed, item)."""

import json
from pathlib import Path

import pytest

from tests._benchmarks import load_benchmark


def _module():
    return load_benchmark("seed_compare")


def _run(tmp_path: Path, name: str, irrelevant_right: int, simple_right: int) -> Path:
    verdicts = [{"source": "bfcl", "category": "irrelevance", "id": f"irr_{i}", "correct": i < irrelevant_right}
                for i in range(10)]
    verdicts += [{"source": "bfcl", "category": "simple_python", "id": f"sp_{i}", "correct": i < simple_right}
                 for i in range(10)]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"results": {"60": {"scores": {"verdicts": verdicts}}}}))
    return path


def test_runs_are_paired_by_seed_and_pooled_over_seed_and_item(tmp_path):
    sc = _module()
    a = [sc.run_verdicts(_run(tmp_path, f"a{s}", r, 2), "60") for s, r in enumerate((2, 5, 1))]
    b = [sc.run_verdicts(_run(tmp_path, f"b{s}", r, 2), "60") for s, r in enumerate((9, 8, 9))]
    rows = sc.compare(a, b)
    assert rows["irrelevance"]["a"] == [2, 5, 1] and rows["irrelevance"]["b"] == [9, 8, 9]
    assert rows["irrelevance"]["n"] == 10
    paired = rows["irrelevance"]["paired"]
    assert (paired["gained"], paired["lost"], paired["n"]) == (18, 0, 30) and paired["verdict"] == "better"
    assert rows["simple_python"]["paired"]["verdict"] == "no significant difference"
    assert rows["bfcl_ast"]["n"] == 10 and "live_simple" not in rows  # scopes no run has are left out
    line = next(x for x in sc.table("none", "phase", rows).splitlines() if x.startswith("| irrelevance"))
    assert "| 2, 5, 1 (2.7) | 9, 8, 9 (8.7) | +18 −0 |" in line


def test_a_missing_size_names_the_file(tmp_path):
    sc = _module()
    with pytest.raises(SystemExit, match=r"a0.json: no result for 80"):
        sc.run_verdicts(_run(tmp_path, "a0", 1, 1), "80")

"""The grid command on throwaway copies of the project: ``--dry-run``, the MLflow tags of a real
``kedro run`` found again by the grid, and one whole variant end to end on the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from tests.pipelines.sft.conftest import make_dialog
from tests.support.kedro_project import ROOT, VERSION, make_project
from toolace_kedro.ablations import grid as grid_module
from toolace_kedro.ablations.grid import Project, main
from toolace_kedro.ablations.variants import VARIANTS

ENV = {"KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "400",
       "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def _dialogs(n: int = 16) -> list[dict]:
    kinds = ["single", "parallel", "non_tool", "clarify"]
    return [make_dialog(i, kinds[i % len(kinds)]) for i in range(n)]


def _with_dialogs(project: Path, dialogs: list[dict]) -> Path:
    target = project / "data/03_primary/dialogs.jsonl" / VERSION / "dialogs.jsonl"
    target.parent.mkdir(parents=True)
    target.write_text("".join(json.dumps(d) + "\n" for d in dialogs))
    return project


@pytest.fixture
def restore_mlflow():
    previous = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(previous)


def test_dry_run_prints_every_variant_and_exits_0(tmp_path, capsys):
    project = make_project(tmp_path / "p", {})  # no dialogs yet: the versions are placeholders
    assert main(["--dry-run", "--project-path", str(project), "--sample-size", "2"]) == 0
    commands = [line for line in capsys.readouterr().out.splitlines() if line.startswith(sys.executable)]
    assert len(commands) == len(VARIANTS)  # (Kedro's logging, set up by bootstrap_project, goes to stdout too)
    assert "ablation.variant=rules_and_judges" in commands[0]
    assert "--load-versions 'dialogs:<latest dialogs: none found>'" in commands[0]
    assert "'verified_dialogs:<written by rules_and_judges in this grid>'" in commands[-1]
    assert all("evaluation.bfcl.sample_size=2" in c for c in commands)
    assert not (project / "data/08_reporting/ablations.md").exists() and not (project / "mlflow.db").exists()

    _with_dialogs(project, _dialogs(4))  # the script itself, as `make ablations` calls it
    run = subprocess.run([sys.executable, str(ROOT / "scripts/ablations.py"), "--dry-run", "--variants",
                          "verification_off,no_parallel", "--verified-version", "V1"],
                         cwd=project, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    off, parallel = [line for line in run.stdout.splitlines() if line.startswith(sys.executable)]
    assert f"--load-versions dialogs:{VERSION}" in off and "verification.layers.rules=false" in off
    assert "--pipelines sft,evaluation_base_sft --load-versions verified_dialogs:V1" in parallel
    assert "sft.exclude_types=[parallel]" in parallel


def test_unknown_variant_is_an_error_naming_the_known_ones(tmp_path, capsys):
    project = make_project(tmp_path / "p", {})
    assert main(["--dry-run", "--project-path", str(project), "--variants", "no_such"]) == 2
    assert "known: rules_and_judges, rules_only" in capsys.readouterr().err


def test_a_kedro_run_is_tagged_with_its_variant_and_found_by_the_grid(tmp_path, restore_mlflow):
    """RunTagsHook runs after kedro-mlflow has opened the run (trylast); the grid finds the run by
    its tags in the project's SQLite store and reads the Kedro run id = the save version."""
    project = _with_dialogs(make_project(tmp_path / "p", {}), _dialogs(4))
    params = "verification.layers.judges=false,ablation.variant=rules_only,ablation.grid=G7"
    run = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines", "verification", "--params", params],
                         cwd=project, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    found = Project(project).find_run("G7", "rules_only")
    (version_dir,) = (project / "data/08_reporting/verification_report.json").iterdir()
    assert found["status"] == "FINISHED" and found["save_version"] == version_dir.name
    tags = mlflow.tracking.MlflowClient(f"sqlite:///{project / 'mlflow.db'}").get_run(found["run_id"]).data.tags
    assert tags["ablation.variant"] == "rules_only" and tags["ablation.grid"] == "G7"
    assert Project(project).find_run("G7", "no_parallel") is None
    assert Project(project).load("verification_report", found["save_version"])["verified"] == 4


def _tiny_parameters(tiny_model_dir: str) -> dict:
    base = {}
    for name in ("parameters", "parameters_verification", "parameters_sft", "parameters_evaluation"):
        base.update(yaml.safe_load((ROOT / "conf/base" / f"{name}.yml").read_text()))
    base["llm"].update(model=tiny_model_dir, batch_size=8, device="cpu")
    sft = base["sft"]
    # one curriculum stage of one step: the test is about the grid, the stages have their own tests
    sft.update(policy_model=tiny_model_dir, test_fraction=0.25, min_test=4, max_length=512, n_stages=1, difficulty_batch_size=12,
               measure_test_nll=True)  # the table's NLL columns (off in the CPU default)
    sft["lora"].update(r=4, alpha=8, layers=None)
    sft["training"].update(learning_rate=5e-3, per_device_batch_size=12, report_to="none", system_metrics=False)
    sft["distributed"]["enabled"] = False
    base["evaluation"]["bfcl"]["categories"] = ["simple_python", "irrelevance"]
    base["evaluation"]["generation"].update(max_tokens=8, batch_size=8)
    return base


def test_one_variant_end_to_end_on_the_tiny_model(tmp_path, tiny_model_dir, restore_mlflow, caplog):
    """``verification_off``: verification (no layer) → sft → evaluation of base and sft, as one
    tagged kedro run, then the table from the versions it wrote."""
    project = _with_dialogs(make_project(tmp_path / "p", _tiny_parameters(tiny_model_dir)), _dialogs(16))
    previous = dict(os.environ)
    os.environ.update(ENV)
    try:
        code = main(["--variants", "verification_off", "--project-path", str(project), "--env", "test",
                     "--sample-size", "1", "--grid", "E2E"])
    finally:
        os.environ.clear()
        os.environ.update(previous)
    log = (project / "data/08_reporting/ablations/E2E/verification_off.log").read_text()
    assert code == 0, log[-4000:]
    table = json.loads((project / "data/08_reporting/ablations.json").read_text())
    (row,) = table["rows"]
    assert row["status"] == "ok" and row["mlflow_run_id"] and row["load_versions"] == {"dialogs": VERSION}
    assert row["verified_dialogs"] == 16 and row["train_dialogs"] == 12 and row["test_set"].startswith("4 · ")
    assert row["nll_before"] is not None and row["nll_after"] is not None
    assert row["bfcl.irrelevance"] is not None and row["bfcl.non_live"] is not None
    assert table["base"]["from_variant"] == "verification_off"
    assert (project / "data/08_reporting/ablations/E2E/ablations.md").read_text() == \
        (project / "data/08_reporting/ablations.md").read_text()
    assert "| verification_off | ok | 16 | 12 | 4 · " in (project / "data/08_reporting/ablations.md").read_text()
    run = mlflow.tracking.MlflowClient(f"sqlite:///{project / 'mlflow.db'}").get_run(row["mlflow_run_id"])
    assert run.data.tags["ablation.variant"] == "verification_off" and run.data.tags["run_id"] == row["save_version"]
    assert run.data.params["verification.layers.rules"] == "False"
    assert {"sft.test_nll_after", "evaluation.sft.bfcl.overall"} <= set(run.data.metrics)


def test_a_failing_variant_is_reported_and_the_grid_goes_on(tmp_path, monkeypatch):
    """The reference fails: its row says why; the training variant that needs its output is not run."""
    project = _with_dialogs(make_project(tmp_path / "p", {}), _dialogs(4))
    calls = []

    def fake_run(command, cwd, env, stdout, stderr, check):
        calls.append(command)
        stdout.write("Traceback (most recent call last):\nRuntimeError: out of memory\n")
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(grid_module.subprocess, "run", fake_run)
    code = main(["--variants", "rules_and_judges,rules_only,no_parallel", "--project-path", str(project),
                 "--grid", "F1"])
    assert code == 1 and len(calls) == 2  # no_parallel never started
    table = json.loads((project / "data/08_reporting/ablations.json").read_text())
    rows = {r["variant"]: r for r in table["rows"]}
    assert rows["rules_and_judges"]["status"] == "failed" and rows["rules_and_judges"]["error"] == \
        "RuntimeError: out of memory"
    assert rows["rules_only"]["status"] == "failed"
    assert rows["no_parallel"]["status"] == "not run" and "rules_and_judges" in rows["no_parallel"]["error"]
    assert "| no_parallel | **not run** |" in (project / "data/08_reporting/ablations.md").read_text()

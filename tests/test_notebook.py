"""The walkthrough notebook runs against a whole (tiny) ``kedro run`` of the six stages: every
dataset it reads is where a user's run puts it, and every cell executes."""

from __future__ import annotations

import os

import pytest

from tests.support.tiny_run import ROOT, data_root, kedro_env, run_tiny_project

NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"


@pytest.fixture(scope="module")
def tiny_project(tiny_model_dir, tmp_path_factory):
    project, run = run_tiny_project(tmp_path_factory.mktemp("tiny-run"), tiny_model_dir)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    (project / "kedro.log").write_text(run.stdout + run.stderr)
    return project


@pytest.mark.slow
def test_a_tiny_run_writes_every_stage_under_its_data_root(tiny_project):
    """The run's conf/test/globals.yml moves the data root out of the project: every output is
    there (catalog datasets, models, response cache, checkpoints) and the project has no data/."""
    root = data_root(tiny_project.parent)
    reports = root / "08_reporting"
    for name in ("api_pool_stats.json", "dialog_stats.json", "verification_report.json", "sft_report.json",
                 "irft_round_1/irft_report.json", "evaluation_scores.json", "evaluation_report.md"):
        assert list((reports / name).glob("*/*")), f"{name}: no version written"
    for name in ("06_models/sft_adapter", "06_models/irft_policy", "02_intermediate/llm_cache",
                 "02_intermediate/checkpoints/api_synthesis", "02_intermediate/checkpoints/dialog_generation"):
        assert any((root / name).iterdir()), f"{name}: nothing written under the data root"
    assert not (tiny_project / "data").exists()


@pytest.mark.slow
def test_the_run_is_browsable_in_mlflow(tiny_project):
    """What a user finds in the run's MLflow store (the project's sqlite:///mlflow.db): the reports
    and plots as artifacts, the SFT adapter and the irft policy as registered pyfunc models tagged
    with the Kedro run id, the training and evaluation sets as dataset inputs, the per-item
    predictions as a table."""
    import mlflow

    assert "could not log" not in (tiny_project / "kedro.log").read_text()
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tiny_project / 'mlflow.db'}")
    try:
        client = mlflow.MlflowClient()
        experiment = client.get_experiment_by_name("toolace_kedro")
        (run,) = client.search_runs([experiment.experiment_id], "tags.run_id != ''")  # the Kedro run
        kedro_run_id = run.data.tags["run_id"]

        def artifacts(folder):
            return {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run.info.run_id, folder)}

        assert {"evaluation_report.md", "evaluation_report.html", "evaluation_bfcl.png", "evaluation_scores.json",
                "predictions.json"} <= artifacts("evaluation")
        assert {"api_pool_stats.json", "api_domains.png"} <= artifacts("api_synthesis")
        assert {"dialog_stats.json", "dialog_types.png"} <= artifacts("dialog_generation")
        assert "verification_rejections.png" in artifacts("verification")
        assert {"sft_report.json", "sft_split_report.json"} <= artifacts("sft")
        assert "irft_report.json" in artifacts("irft_round_1")
        for name, dataset in (("toolace-sft", "sft_adapter"), ("toolace-irft", "irft_policy")):
            (version,) = client.search_model_versions(f"name='{name}'")
            assert version.run_id == run.info.run_id
            assert version.tags == {"kedro_run_id": kedro_run_id, "kedro_dataset": dataset}
        inputs = {i.dataset.name: {t.key: t.value for t in i.tags}["mlflow.data.context"]
                  for i in client.get_run(run.info.run_id).inputs.dataset_inputs}
        assert inputs == {"sft_train": "training", "sft_test": "evaluation", "evaluation_items": "evaluation",
                          "irft_round_1.preference_pairs": "training"}
        table = client.load_table(experiment.experiment_id, "evaluation/predictions.json", run_ids=[run.info.run_id])
        assert list(table.columns) == ["id", "source", "category", "policy", "output", "correct", "reason"]
        assert set(table["policy"]) == {"base", "sft", "irft"} and len(table) % 3 == 0
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.mark.slow
def test_the_walkthrough_notebook_executes_against_the_run(tiny_project, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for key, value in kedro_env(tiny_project).items():  # the kernel inherits the environment
        monkeypatch.setitem(os.environ, key, value)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        cell.outputs = [] if cell.cell_type == "code" else getattr(cell, "outputs", None)
    (tiny_project / "notebooks").mkdir(exist_ok=True)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tiny_project / "notebooks")}}).execute()
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                     for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "project project" in text
    assert "dialogs →" in text and "verified" in text
    assert "items with different verdicts" in text
    assert not any(o.output_type == "error" for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


def test_the_saved_notebook_has_outputs_and_no_errors():
    """The file in the repository is saved executed (against a default run), not blank."""
    import json

    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    assert cells and all(c["outputs"] for c in cells)
    assert not any(o["output_type"] == "error" for c in cells for o in c["outputs"])

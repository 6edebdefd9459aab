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

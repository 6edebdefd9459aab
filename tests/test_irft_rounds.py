"""``irft.n_rounds`` as the run configures it: ``--env paper`` builds the paper's three rounds,
``--params irft.n_rounds=N`` builds N, and a pipeline built with another count stops the run
before its first node."""

import shutil

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.support.kedro_project import ROOT, make_project
from toolace_kedro.hooks import IrftRoundsHook
from toolace_kedro.pipelines.irft.pipeline import built_rounds
from toolace_kedro.settings import HOOKS


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project with conf/paper (the session's MLflow store stays in it)."""
    monkeypatch.delenv("IRFT_N_ROUNDS", raising=False)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    path = make_project(tmp_path / "project", {})
    shutil.copytree(ROOT / "conf" / "paper", path / "conf" / "paper")
    monkeypatch.chdir(path)
    bootstrap_project(path)
    return path


def _rounds(project, env=None, runtime_params=None):
    with KedroSession.create(project_path=project, env=env, runtime_params=runtime_params) as session:
        session.load_context()
        return built_rounds(pipelines["irft"]), built_rounds(pipelines["__default__"])


def test_the_env_and_the_params_set_the_round_count(project):
    assert _rounds(project, "paper") == (3, 3)  # what `kedro run --env paper` builds
    assert _rounds(project, "test") == (1, 1)  # (the same process: the count follows each run's parameters)
    assert _rounds(project, "paper", {"irft": {"n_rounds": 2}}) == (2, 2)  # --params irft.n_rounds=2
    assert any(isinstance(h, IrftRoundsHook) for h in HOOKS)


def test_a_pipeline_built_with_another_count_stops_the_run_before_any_node(project, monkeypatch):
    monkeypatch.setenv("IRFT_N_ROUNDS", "1")
    with KedroSession.create(project_path=project, env="test", runtime_params={"irft": {"n_rounds": 2}}) as session:
        with pytest.raises(ValueError, match=r"irft.n_rounds is 2 .* built with 1 round") as failed:
            session.run(pipeline_names=["irft"])
    assert "nothing was run" in str(failed.value)
    assert not (project / "data" / "06_models").exists()  # (no node wrote anything)

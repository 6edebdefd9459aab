"""Every stage's parameter block is validated before the first node: a misspelt key stops the run."""

from pathlib import Path

import pytest
from kedro.framework.project import configure_project, pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset

from toolace_kedro.hooks import PARAMETER_MODELS, ParametersHook, parameter_problems
from toolace_kedro.settings import HOOKS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project_params():
    """The parameters of each configuration environment as Kedro merges them."""
    bootstrap_project(ROOT)
    configure_project("toolace_kedro")
    merged = {}
    for env in ("base", "paper"):
        with KedroSession.create(project_path=ROOT, env=None if env == "base" else env) as session:
            merged[env] = session.load_context().params
    return merged


@pytest.mark.parametrize("env", ["base", "paper"])
def test_the_shipped_parameters_are_valid(project_params, env):
    assert set(PARAMETER_MODELS) <= set(project_params[env])
    assert parameter_problems(project_params[env]) == []


def _catalog(params: dict) -> DataCatalog:
    catalog = DataCatalog()
    for name, value in params.items():
        catalog[f"params:{name}"] = MemoryDataset(value)
    return catalog


STAGE_TYPOS = {  # one misspelt key per stage block, at the depth users edit
    "api_synthesis": ("evolution", "n_generation"),
    "dialog_generation": ("self_consistency", "sample"),
    "verification": ("dedup", "treshold"),
    "sft": ("training", "epoch"),
    "irft": ("optimisation", "learning_rat"),
    "evaluation": ("generation", "max_tokenz"),
}


@pytest.mark.parametrize("stage", sorted(STAGE_TYPOS))
def test_a_misspelt_key_stops_the_stage_before_its_first_node(project_params, stage):
    import copy

    params = copy.deepcopy(project_params["base"])
    section, key = STAGE_TYPOS[stage]
    params[stage][section][key] = 1
    with pytest.raises(ValueError, match=rf"{stage}\.{section}\W") as failed:
        ParametersHook().before_pipeline_run({}, pipelines[stage], _catalog(params))
    assert key in str(failed.value) and "nothing was run" in str(failed.value)
    ParametersHook().before_pipeline_run({}, pipelines[stage], _catalog(project_params["base"]))  # valid: passes


def test_a_bad_llm_value_stops_every_stage_that_uses_it(project_params):
    import copy

    params = copy.deepcopy(project_params["base"])
    params["llm"]["backend"] = "vllm"
    with pytest.raises(ValueError, match="llm.backend"):
        ParametersHook().before_pipeline_run({}, pipelines["verification"], _catalog(params))


def test_the_hook_is_registered():
    assert any(isinstance(h, ParametersHook) for h in HOOKS)

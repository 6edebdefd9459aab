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
    for env in ("base", "paper", "gpu"):
        with KedroSession.create(project_path=ROOT, env=None if env == "base" else env) as session:
            merged[env] = session.load_context().params
    return merged


@pytest.mark.parametrize("env", ["base", "paper", "gpu"])
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


def test_nodes_receive_their_stage_typed_model():
    """The hook swaps each ``params:<stage>`` input for the stage's model (defaults filled in);
    ``params:llm``, sub-keys and data inputs pass through as they are."""
    from kedro.pipeline import node

    from toolace_kedro.pipelines.irft.config import IrftParams
    from toolace_kedro.pipelines.verification.config import VerificationParams

    hook = ParametersHook()
    inputs = {"params:verification": {"judges": {"votes": 3}}, "params:irft": IrftParams(),
              "params:llm": {"model": "m"}, "params:sft.policy_model": "m", "dialogs": [{"id": "d"}]}
    typed = hook.before_node_run(node(lambda *a: None, list(inputs), None, name="n"), inputs)
    assert set(typed) == {"params:verification", "params:irft"}
    assert isinstance(typed["params:verification"], VerificationParams)
    assert typed["params:verification"].judges.votes == 3 and typed["params:verification"].dedup.scope == "tools"
    assert typed["params:irft"] is inputs["params:irft"]
    assert hook.before_node_run(node(lambda x: None, "dialogs", None, name="m"), {"dialogs": []}) is None


@pytest.mark.parametrize("env", ["paper", "gpu"])
def test_an_env_holds_only_what_differs_from_base_and_merges_key_by_key(project_params, env):
    """conf/paper and conf/gpu repeat no base value, and a key they leave out keeps base's value
    (soft merge)."""
    import yaml

    def leaves(tree, path=()):
        for key, value in tree.items():
            if isinstance(value, dict) and value:
                yield from leaves(value, (*path, key))
            else:
                yield (*path, key), value

    def lookup(tree, path):
        for key in path:
            if not isinstance(tree, dict) or key not in tree:
                return KeyError
            tree = tree[key]
        return tree

    base, env_files = {}, {}
    for path in (ROOT / "conf" / "base").glob("parameters*.yml"):
        base.update(yaml.safe_load(path.read_text()) or {})
    for path in (ROOT / "conf" / env).glob("parameters*.yml"):
        env_files.update(yaml.safe_load(path.read_text()) or {})
    repeated = [".".join(map(str, p)) for p, v in leaves(env_files) if lookup(base, p) == v]
    assert repeated == [], f"conf/{env} repeats base values: {repeated}"
    # a base key the environment does not set keeps base's value there
    assert lookup(env_files, ("sft", "lora", "alpha" if env == "gpu" else "target_modules")) is KeyError
    # (resolved: conf/base's path starts at the data root of globals.yml)
    assert project_params[env]["llm"]["cache_dir"] == project_params["base"]["llm"]["cache_dir"] \
        == "data/02_intermediate/llm_cache"
    if env == "paper":
        assert lookup(env_files, ("sft", "decision")) is KeyError
        assert project_params["paper"]["sft"]["decision"] == base["sft"]["decision"]

"""The Kedro project wiring: registry, catalog, credentials hook."""

from pathlib import Path

from kedro.framework.project import configure_project, pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from toolace_kedro.llm import credentials as creds
from toolace_kedro.pipeline_registry import STAGES

ROOT = Path(__file__).resolve().parents[1]


def test_default_run_chains_the_built_stages():
    bootstrap_project(ROOT)
    configure_project("toolace_kedro")
    assert "api_synthesis" in pipelines
    built = [s for s in STAGES if s in pipelines]
    assert set(pipelines["__default__"].nodes) == set().union(*(pipelines[s].nodes for s in built))
    # the ablation grid's evaluation: base and sft only
    assert {n.name for n in pipelines["evaluation"].nodes} - {n.name for n in pipelines["evaluation_base_sft"].nodes} \
        == {"predict_irft"}
    # the optional export: one node, not in the default run
    assert [n.name for n in pipelines["sft_export"].nodes] == ["merge_sft_adapter"]
    assert not set(pipelines["sft_export"].nodes) & set(pipelines["__default__"].nodes)


def test_catalog_instantiates_and_loads_the_shipped_inputs():
    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT) as session:
        context = session.load_context()
        catalog = context.catalog
        for name in ("raw_documents", "seed_apis", "api_pool", "api_context_tree", "api_pool_stats"):
            assert name in catalog
        assert len(catalog.load("raw_documents")) >= 20
        params = context.params
        assert params["llm"]["backend"] == "transformers"



def test_credentials_hook_hands_keys_to_the_llm_layer():
    from types import SimpleNamespace

    from kedro.config import MissingConfigException

    from toolace_kedro.hooks import CredentialsHook

    class Loader(dict):
        def __getitem__(self, key):
            if key not in self:
                raise MissingConfigException("no credentials")
            return dict.__getitem__(self, key)

    try:
        CredentialsHook().after_context_created(SimpleNamespace(config_loader=Loader(credentials={"openai": {"api_key": "sk-t"}})))
        assert creds.resolve_api_key("NO_SUCH_ENV_VAR", "openai") == "sk-t"
        CredentialsHook().after_context_created(SimpleNamespace(config_loader=Loader()))
        assert creds.resolve_api_key("NO_SUCH_ENV_VAR", "openai") is None
    finally:
        creds.register_credentials({})


def test_node_resources_hook_times_nodes_and_logs_to_the_active_mlflow_run(tmp_path, caplog):
    import logging
    from types import SimpleNamespace

    import mlflow

    from toolace_kedro.hooks import NodeResourcesHook

    hook = NodeResourcesHook()
    node = SimpleNamespace(name="ns.slow_node")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("hook-test")  # other tests leave another store's experiment set
        with caplog.at_level(logging.INFO, logger="toolace_kedro.hooks"), \
                mlflow.start_run(experiment_id=experiment) as run:
            hook.before_pipeline_run({}, None, None)
            hook.before_node_run(node)
            sum(range(200_000))
            hook.after_node_run(node)
            hook.after_pipeline_run({}, {}, None, None)
        logged = mlflow.get_run(run.info.run_id).data.metrics
    finally:
        mlflow.set_tracking_uri(previous)
    assert hook.seconds["ns.slow_node"] > 0 and hook.peak_after["ns.slow_node"] > 0.01  # GB
    assert "node ns.slow_node:" in caplog.text and "peak RSS" in caplog.text
    assert {"node.ns.slow_node.seconds", "run.seconds", "run.peak_rss_gb"} <= set(logged)


def test_run_tags_hook_tags_the_active_run_with_the_ablation_params(tmp_path, caplog):
    import logging

    import mlflow

    from toolace_kedro.hooks import RunTagsHook, run_tags

    assert run_tags({"ablation": {"variant": "no_parallel", "grid": "G", "x": {"y": 1}, "none": None},
                     "sft": {"curriculum": False}}) == {"ablation.variant": "no_parallel", "ablation.grid": "G",
                                                        "ablation.x.y": "1"}
    assert run_tags(None) == {} and run_tags({"sft": {"seed": 1}}) == {}
    hook = RunTagsHook()
    run_params = {"runtime_params": {"ablation": {"variant": "no_parallel", "grid": "G"}}}
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        with caplog.at_level(logging.WARNING, logger="toolace_kedro.hooks"):
            hook.before_pipeline_run(run_params, None, None)  # no active run (tracking off): only a warning
        assert "no active MLflow run: tags" in caplog.text
        experiment = mlflow.create_experiment("tags-test")
        with mlflow.start_run(experiment_id=experiment) as run:
            hook.before_pipeline_run(run_params, None, None)
            hook.before_pipeline_run({"runtime_params": {}}, None, None)
        tags = mlflow.get_run(run.info.run_id).data.tags
    finally:
        mlflow.set_tracking_uri(previous)
    assert tags["ablation.variant"] == "no_parallel" and tags["ablation.grid"] == "G"
    # it must run after kedro-mlflow's before_pipeline_run, which opens the run
    assert RunTagsHook.before_pipeline_run.kedro_impl["trylast"] is True


def test_node_resources_hook_drops_cached_models_after_a_long_node(tiny_model_dir):
    from types import SimpleNamespace

    from toolace_kedro.hooks import NodeResourcesHook
    from toolace_kedro.models import load_policy
    from toolace_kedro.models.loading import _load_cached

    node = SimpleNamespace(name="predict")
    first, _ = load_policy(tiny_model_dir)
    for hook in (NodeResourcesHook(release_after_s=3600), NodeResourcesHook(release_after_s=0)):
        hook.before_node_run(node)
        hook.after_node_run(node)
        kept = _load_cached.cache_info().currsize
        if hook.release_after_s:  # a short node keeps them for the next
            assert kept >= 1 and load_policy(tiny_model_dir)[0] is first
    assert kept == 0 and load_policy(tiny_model_dir)[0] is not first  # loaded afresh


def test_rss_now_splits_the_resident_set_and_the_hook_logs_what_a_release_left(caplog):
    import logging
    import sys
    from types import SimpleNamespace

    from toolace_kedro.hooks import NodeResourcesHook, rss_now

    now = rss_now()
    assert now["total"] > 0.01  # GB
    if sys.platform.startswith("linux"):
        assert 0 < now["anon"] < now["total"] and now["file"] > 0
    node = SimpleNamespace(name="long_node")
    with caplog.at_level(logging.INFO, logger="toolace_kedro.hooks"):
        for hook in (NodeResourcesHook(release_after_s=3600), NodeResourcesHook(release_after_s=0)):
            hook.before_node_run(node)
            hook.after_node_run(node)
    short, released = [r.getMessage() for r in caplog.records if "node long_node" in r.getMessage()]
    assert "RSS now" not in short and "; RSS now " in released and " GB" in released

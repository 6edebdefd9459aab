"""Project hooks: thin by design."""

from __future__ import annotations

import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from toolace_kedro.llm.credentials import register_credentials

logger = logging.getLogger(__name__)


class CredentialsHook:
    """Hands ``conf/<env>/credentials.yml`` to the LLM layer, which keeps keys out of parameters
    (parameters are logged to MLflow; credentials never are)."""

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            credentials = context.config_loader["credentials"]
        except MissingConfigException:  # no credentials file: fine for local servers
            credentials = {}
        register_credentials(credentials)


def run_tags(runtime_params: dict[str, Any] | None, blocks: tuple[str, ...] = ("ablation",)) -> dict[str, str]:
    """MLflow tags from the runtime parameters of ``kedro run --params``: every scalar under a tag
    block, flattened with dots (``--params ablation.variant=no_parallel`` → ``ablation.variant``)."""
    tags: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        elif value is not None:
            tags[prefix] = str(value)

    for block in blocks:
        if block in (runtime_params or {}):
            walk(block, runtime_params[block])
    return tags


#: the parameter model of each block, ``"module:Class"`` (imported when a run uses the block)
PARAMETER_MODELS = {
    "llm": "toolace_kedro.llm.base:LLMConfig",
    "api_synthesis": "toolace_kedro.pipelines.api_synthesis.config:ApiSynthesisParams",
    "dialog_generation": "toolace_kedro.pipelines.dialog_generation.config:DialogGenerationParams",
    "verification": "toolace_kedro.pipelines.verification.config:VerificationParams",
    "sft": "toolace_kedro.pipelines.sft.config:SFTParams",
    "irft": "toolace_kedro.pipelines.irft.config:IrftParams",
    "evaluation": "toolace_kedro.pipelines.evaluation.config:EvaluationParams",
}


#: the blocks whose nodes receive the typed model (``StrictModel.of``) instead of the dict
TYPED_BLOCKS = frozenset(PARAMETER_MODELS) - {"llm"}


def parameter_model(block: str):
    """The parameter model class of ``block`` (a key of ``PARAMETER_MODELS``)."""
    from importlib import import_module

    module, cls = PARAMETER_MODELS[block].split(":")
    return getattr(import_module(module), cls)


#: checks that need several blocks and the run's nodes, ``"module:function"`` taking
#: ``(blocks, node names)`` and returning problem lines (imported when a run uses a block)
RUN_CHECKS = ("toolace_kedro.pipelines.evaluation.config:served_policy_problems",)


def run_problems(blocks: dict[str, Any], node_names: set[str]) -> list[str]:
    """What :data:`RUN_CHECKS` find wrong with the run's blocks taken together."""
    from importlib import import_module

    problems = []
    for check in RUN_CHECKS:
        module, function = check.split(":")
        problems += getattr(import_module(module), function)(blocks, node_names)
    return problems


def parameter_problems(blocks: dict[str, Any]) -> list[str]:
    """What is wrong with each parameter block that has a model (``PARAMETER_MODELS``), as
    ``"<block>.<key path>: <message>"`` lines; blocks without a model are not checked."""
    from pydantic import ValidationError

    problems = []
    for name, value in blocks.items():
        if name not in PARAMETER_MODELS:
            continue
        try:
            parameter_model(name).model_validate(value if value is not None else {})
        except ValidationError as exc:
            problems += [f"{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else
                         f"{name}: {e['msg']}" for e in exc.errors()]
    return problems


class ParametersHook:
    """Validates the parameter block of every stage the run uses (``params:<block>`` inputs of its
    nodes) before the first node: a misspelt key or a bad value in any stage's YAML stops the run
    at once, naming the key, instead of after the stages before it have run."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        names = sorted({i.removeprefix("params:").split(".")[0] for n in pipeline.nodes for i in n.inputs
                        if i.startswith("params:")})
        blocks = {name: catalog.load(f"params:{name}") for name in names if name in PARAMETER_MODELS}
        problems = parameter_problems(blocks)
        if not problems:
            problems = run_problems(blocks, {n.name for n in pipeline.nodes})
        if problems:
            raise ValueError("invalid parameters (conf/<env>/parameters*.yml); nothing was run:\n  "
                             + "\n  ".join(problems))
        logger.info("parameters valid: %s", ", ".join(blocks) or "none with a model")

    @hook_impl
    def before_node_run(self, node, inputs: dict[str, Any]) -> dict[str, Any] | None:
        """Hand each node its stage's typed parameter model in place of the ``params:<stage>``
        dict (``llm`` stays a dict: nodes merge overrides into it and ``build_llm`` validates it)."""
        blocks = {name: name.removeprefix("params:") for name in inputs if name.startswith("params:")}
        typed = {name: parameter_model(block).of(inputs[name]) for name, block in blocks.items()
                 if block in TYPED_BLOCKS}
        return typed or None


class IrftRoundsHook:
    """``irft.n_rounds`` as the run configures it: Kedro builds pipelines before it hands out
    parameters, so the irft pipeline cannot read its round count as a node does. After the
    context is created (its parameters include ``--env`` and ``--params``) and before the
    pipelines are built, the count is handed to the irft pipeline (rebuilt if this process had
    built it with another count); a run whose pipeline still has another count (``IRFT_N_ROUNDS``
    set against it) stops before its first node, naming both."""

    def __init__(self) -> None:
        self.rounds: int | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        from pydantic import ValidationError

        from toolace_kedro.pipelines.irft import pipeline as irft_pipeline
        from toolace_kedro.pipelines.irft.config import IrftParams

        try:
            self.rounds = IrftParams.of(context.params.get("irft")).n_rounds
        except ValidationError:  # a bad block: ParametersHook names it before the first node
            self.rounds = None
            return
        if self.rounds != irft_pipeline.use_rounds(self.rounds):
            _forget_built_pipelines()

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from toolace_kedro.pipelines.irft.pipeline import built_rounds

        built = built_rounds(pipeline)
        if self.rounds is not None and built is not None and built != self.rounds:
            raise ValueError(f"irft.n_rounds is {self.rounds} in this run's parameters, but its irft pipeline was "
                             f"built with {built} round(s) (the environment variable IRFT_N_ROUNDS?); nothing was run")


def _forget_built_pipelines() -> None:
    """Make Kedro build the project's pipelines again on their next use (they are cached per
    process; a session earlier in this process may have built irft with another round count)."""
    from kedro.framework.project import pipelines

    module = getattr(pipelines, "_pipelines_module", None)
    if module is None:
        return
    requested = getattr(pipelines, "_requested_pipelines", None)
    pipelines.configure(module)
    pipelines.set_requested(requested)


class RunTagsHook:
    """Tags the Kedro run's MLflow run with the ``ablation.*`` runtime parameters, so the ablation
    grid (``toolace_kedro.ablations``) and the MLflow UI find each variant's run by
    ``tags."ablation.variant"``. ``trylast``: it runs after kedro-mlflow's ``before_pipeline_run``
    has opened that run; with no active run (tracking off) it only logs."""

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        tags = run_tags(run_params.get("runtime_params"))
        if not tags:
            return
        import mlflow

        if mlflow.active_run() is None:
            logger.warning("no active MLflow run: tags %s not set", tags)
            return
        mlflow.set_tags(tags)
        logger.info("MLflow run %s tagged %s", mlflow.active_run().info.run_id, tags)


class MlflowCatalogHook:
    """Logs to the Kedro run's MLflow run what a dataset's ``metadata.mlflow`` in the catalog asks
    for (:class:`toolace_kedro.tracking.MlflowMetadata`): after a save, the model directory as a
    registered pyfunc model (``registered_model``) or the records as a table (``table``); after a
    load, the records as a dataset input (``input``, once per dataset version). Files
    (reports, plots) are artifacts through the catalog itself (``VersionedArtifactDataset``).
    Without an active MLflow run (tracking disabled, nodes run outside ``kedro run``) it does
    nothing; a logging failure is a warning, never a failed run."""

    def __init__(self) -> None:
        self._catalog = None
        self._kedro_run_id: str | None = None
        self._inputs: set[tuple[str, str]] = set()

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._catalog, self._kedro_run_id, self._inputs = catalog, run_params.get("run_id"), set()

    def _target(self, dataset_name: str):
        """``(dataset, its metadata.mlflow)`` when there is something to log now, else ``None``."""
        if self._catalog is None:
            return None
        from toolace_kedro.tracking import mlflow_metadata

        dataset = self._catalog.get(dataset_name)
        meta = mlflow_metadata(dataset) if dataset is not None else None
        if meta is None:
            return None
        import mlflow

        return (dataset, meta) if mlflow.active_run() is not None else None

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        target = self._target(dataset_name)
        if target is None:
            return
        from toolace_kedro import tracking

        dataset, meta = target
        try:
            if meta.registered_model:
                from toolace_kedro.models.mlflow_policy import log_policy_model

                start = time.perf_counter()
                tags = {"kedro_run_id": str(self._kedro_run_id), "kedro_dataset": dataset_name}
                info = log_policy_model(tracking.dataset_file(dataset, saved=True), dataset_name.replace(".", "-"),
                                        meta.registered_model, tags)
                logger.info("%s: logged as MLflow model %s, registered as %s version %s (%.1f s)", dataset_name,
                            info.model_uri, meta.registered_model, info.registered_model_version,
                            time.perf_counter() - start)
            if meta.table:
                tracking.log_records_table(data, meta.table)
        except Exception as exc:  # noqa: BLE001 - tracking must never fail a run whose data is saved
            logger.warning("could not log %s to MLflow: %s: %s", dataset_name, type(exc).__name__, exc)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node) -> None:
        target = self._target(dataset_name)
        if target is None or not target[1].input:
            return
        from toolace_kedro import tracking

        dataset, meta = target
        try:
            source = tracking.dataset_file(dataset, saved=False)
            if (dataset_name, source) in self._inputs:
                return
            tracking.log_records_input(data, dataset_name, source, meta.input)
            self._inputs.add((dataset_name, source))
        except Exception as exc:  # noqa: BLE001 - tracking must never fail a run
            logger.warning("could not record %s as an MLflow dataset input: %s: %s", dataset_name,
                           type(exc).__name__, exc)


def peak_rss_gb() -> float:
    """The process's peak resident set size so far, in GB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9


def rss_now() -> dict[str, float]:
    """The process's resident set now, in GB: ``total`` and, on Linux, its ``anon`` (heap, tensors)
    and ``file`` (mapped libraries and files) parts; empty where neither /proc nor psutil tells."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        kib = {key: int(fields[name].split()[0]) for key, name in
               (("total", "VmRSS"), ("anon", "RssAnon"), ("file", "RssFile")) if name in fields}
        return {key: value * 1024 / 1e9 for key, value in kib.items()}
    except (OSError, ValueError):
        try:
            import psutil

            return {"total": psutil.Process().memory_info().rss / 1e9}
        except Exception:  # noqa: BLE001 - a diagnostic only
            return {}


def _rss_text() -> str:
    now = rss_now()
    if "total" not in now:
        return ""
    parts = ", ".join(f"{key} {now[key]:.2f}" for key in ("anon", "file") if key in now)
    return f"; RSS now {now['total']:.2f} GB" + (f" ({parts})" if parts else "")


class NodeResourcesHook:
    """Logs each node's wall time and the process's peak RSS after it (the node that raised the
    peak is the one to look at), and a per-node table at the end of the run; the figures also go
    to the active MLflow run as ``node.<name>.seconds`` and ``run.peak_rss_gb``. After a node that
    ran longer than ``release_after_s`` (the ones that load models) the cached models are
    dropped and the freed heap handed back (:func:`toolace_kedro.models.release_memory`); the
    line then also gives the resident set left after that release (what the next node starts
    from), split into anonymous memory and mapped files on Linux."""

    def __init__(self, release_after_s: float = 5.0) -> None:
        self.release_after_s = release_after_s
        self._started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.peak_after: dict[str, float] = {}

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._run_started = time.perf_counter()
        self.seconds.clear()
        self.peak_after.clear()

    @hook_impl
    def before_node_run(self, node) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        self.seconds[node.name], self.peak_after[node.name] = seconds, peak_rss_gb()
        left = ""
        if seconds > self.release_after_s:  # a node that loaded models: let the next one start lean
            from toolace_kedro.models import release_memory

            release_memory()
            left = _rss_text()
        logger.info("node %s: %.1f s, peak RSS so far %.2f GB%s", node.name, seconds, self.peak_after[node.name], left)

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        if not self.seconds:
            return
        total = time.perf_counter() - getattr(self, "_run_started", time.perf_counter())
        slowest = sorted(self.seconds.items(), key=lambda item: -item[1])[:8]
        logger.info("run: %.1f s, peak RSS %.2f GB; slowest nodes: %s", total, peak_rss_gb(),
                    ", ".join(f"{name} {seconds:.0f} s" for name, seconds in slowest))
        try:
            import mlflow

            if mlflow.active_run() is not None:
                metrics = {f"node.{name}.seconds": round(s, 2) for name, s in self.seconds.items()}
                metrics.update({"run.seconds": round(total, 2), "run.peak_rss_gb": round(peak_rss_gb(), 3)})
                mlflow.log_metrics(metrics)
        except Exception as exc:  # noqa: BLE001 - figures must never fail a finished run
            logger.warning("could not log the node figures to MLflow: %s", exc)

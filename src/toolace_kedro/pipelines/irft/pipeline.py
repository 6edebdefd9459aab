"""``irft``: SFT policy → ``n_rounds`` namespaced rounds ``irft_round_1 … irft_round_N`` → ``irft_policy``.

Every round is the same template (mine → search → pairs → optimise → report) in its own
namespace, so ``kedro viz`` shows each round as one collapsed block and the catalog's factory
patterns (``irft_round_{k}.<dataset>``) version every round's datasets apart. Round 1 starts from
the SFT policy (base model + ``sft_adapter`` merged: ``irft_sft_policy``); round k from round
k−1's merged policy (``irft_policy_round_<k-1>``, outside the namespaces: in ``kedro viz`` the
policies chain the collapsed rounds); the last round's policy is ``irft_policy``.

The round count is needed when the pipeline is *built*. Inside a Kedro session
``IrftRoundsHook`` (``hooks.py``) hands over ``irft.n_rounds`` of the run's own parameters
(``--env`` and ``--params`` included) before the pipelines are built (:func:`use_rounds`), and
stops a run whose pipeline has another count before its first node. Built outside a session
(``find_pipelines`` in a script), ``create_pipeline`` reads the parameter files itself
(:func:`configured_rounds`: ``conf/base`` overlaid by ``conf/$KEDRO_ENV``); the environment
variable ``IRFT_N_ROUNDS`` overrides both.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from kedro.pipeline import Pipeline, node, pipeline

from toolace_kedro.pipelines.irft.config import IrftParams
from toolace_kedro.pipelines.irft.nodes import (
    build_preference_pairs,
    merge_sft_policy,
    mine_deficiencies,
    optimise_policy,
    recheck_round,
    report_round,
    search_steps,
)

logger = logging.getLogger(__name__)


def _with_round(func, round_index: int):
    bound = functools.partial(func, round_index=round_index)
    functools.update_wrapper(bound, func)
    return bound


def round_template(round_index: int) -> Pipeline:
    """One iTool round on the ``policy`` it is given; outputs ``merged_policy``."""
    return pipeline([
        node(mine_deficiencies, ["sft_train", "policy", "params:irft"], ["deficient_samples", "mining_report"],
             name="mine_deficiencies"),
        node(search_steps, ["deficient_samples", "policy", "params:irft"], ["search_trees", "search_report"],
             name="search_steps"),
        node(build_preference_pairs, ["search_trees", "params:irft"], ["preference_pairs", "pair_report"],
             name="build_preference_pairs"),
        node(_with_round(optimise_policy, round_index),
             ["preference_pairs", "policy", "sft_policy", "pair_report", "search_report", "params:irft"],
             ["merged_policy", "training_report"], name="optimise_policy"),
        node(recheck_round, ["sft_train", "merged_policy", "mining_report", "params:irft"], "recheck_report",
             name="recheck_round"),
        node(_with_round(report_round, round_index),
             ["mining_report", "search_report", "pair_report", "training_report", "recheck_report"],
             ["irft_report", "irft_metrics"], name="report_round"),
    ])


def configured_rounds(conf_source: str | os.PathLike | None = None) -> int:
    """``irft.n_rounds`` from ``IRFT_N_ROUNDS`` or the parameter files (see the module docstring); the
    model's default where they do not set it or cannot be read."""
    override = os.environ.get("IRFT_N_ROUNDS")
    if override:
        return int(override)
    from kedro.config import OmegaConfigLoader
    from kedro.framework.project import settings

    conf = Path(conf_source) if conf_source else Path.cwd() / settings.CONF_SOURCE
    if not conf.is_dir():
        conf = Path(__file__).resolve().parents[4] / "conf"
    if not conf.is_dir():
        return IrftParams().n_rounds
    loader = OmegaConfigLoader(str(conf), base_env="base", default_run_env=os.environ.get("KEDRO_ENV", "local"),
                               config_patterns={"irft": ["parameters_irft*", "parameters_irft*/**"]},
                               merge_strategy={"irft": "soft"})  # as settings.py merges parameters
    try:
        return IrftParams.of(loader["irft"].get("irft")).n_rounds
    except Exception as exc:  # noqa: BLE001 - an unreadable file must not break the other pipelines
        default = IrftParams().n_rounds  # (a bad block stops the run itself before its first node: ParametersHook)
        logger.warning("could not read irft.n_rounds from %s (%s); using %d", conf, exc, default)
        return default


#: the round count of the Kedro run being set up (:func:`use_rounds`); ``None`` outside a session
_run_rounds: int | None = None


def use_rounds(n_rounds: int | None) -> int | None:
    """Build the pipeline with ``n_rounds`` rounds from now on (``None``: read the files again);
    returns the count used before."""
    global _run_rounds
    before, _run_rounds = _run_rounds, n_rounds
    return before


def built_rounds(pipe: Pipeline) -> int | None:
    """The round count ``pipe`` was built with: the round whose node outputs ``irft_policy``
    (``None`` when no node of ``pipe`` does, e.g. a run of other stages or a filtered run)."""
    for n in pipe.nodes:
        if "irft_policy" in n.outputs and (n.namespace or "").startswith("irft_round_"):
            return int(n.namespace.removeprefix("irft_round_"))
    return None


def create_pipeline(n_rounds: int | None = None, **kwargs) -> Pipeline:
    if n_rounds is None:
        rounds = int(os.environ.get("IRFT_N_ROUNDS") or 0) or _run_rounds or configured_rounds()
    else:
        rounds = int(n_rounds)
    if rounds < 1:
        raise ValueError(f"irft.n_rounds must be >= 1, got {rounds}")
    stages = [pipeline([node(merge_sft_policy, ["sft_adapter", "params:sft.policy_model"], "irft_sft_policy",
                             name="merge_sft_policy")])]
    previous = "irft_sft_policy"
    for k in range(1, rounds + 1):
        namespace = f"irft_round_{k}"
        stages.append(pipeline(
            round_template(k), namespace=namespace,
            inputs={"sft_train": "sft_train", "policy": previous, "sft_policy": "irft_sft_policy"},
            outputs={"merged_policy": "irft_policy" if k == rounds else f"irft_policy_round_{k}"},
            parameters={"params:irft": "params:irft"}))
        previous = f"irft_policy_round_{k}"
    return sum(stages, Pipeline([]))

"""``evaluation_base_sft``: the evaluation stage for the base and sft policies alone, so no irft
policy is needed (``evaluation.create_pipeline(policies=("base", "sft"))``); the ablation grid
runs it after each variant's sft.

A package of its own because ``kedro run --pipelines a,b`` (Kedro 1.7) imports only the packages
named on the command line: a pipeline added inside ``register_pipelines`` would not be found.
"""

from kedro.pipeline import Pipeline

from toolace_kedro.pipelines.evaluation import create_pipeline as evaluation_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return evaluation_pipeline(policies=("base", "sft"))

"""``sft_export``: base model + ``sft_adapter`` merged into one plain model directory
(``sft_merged_model``) for servers that want weights without an adapter
(``kedro run --pipelines sft_export``). Not part of the default run.

A package of its own because ``kedro run --pipelines a,b`` (Kedro 1.7) imports only the packages
named on the command line.
"""

from kedro.pipeline import Pipeline

from toolace_kedro.pipelines.sft import create_export_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_export_pipeline()

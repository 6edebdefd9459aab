"""``dialog_generation``: API pool → canonical dialogs (user, assistant and tool agents)."""

from kedro.pipeline import Pipeline, node, pipeline

from toolace_kedro.pipelines.dialog_generation.nodes import generate_dialogs, summarise_dialogs


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(generate_dialogs, ["api_pool", "params:llm", "params:dialog_generation"],
             ["dialogs", "dialog_generation_report"], name="generate_dialogs"),
        node(summarise_dialogs, ["dialogs", "dialog_generation_report"],
             ["dialog_stats", "dialog_generation_metrics", "dialog_types_plot", "dialog_complexity_plot"],
             name="summarise_dialogs"),
    ])

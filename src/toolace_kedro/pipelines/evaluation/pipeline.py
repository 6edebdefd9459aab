"""``evaluation``: base vs sft vs irft on the same BFCL subset and held-out synthetic test set."""

from kedro.pipeline import Pipeline, node, pipeline

from toolace_kedro.pipelines.evaluation.nodes import (
    build_items,
    decontaminate,
    evaluate,
    predict_base,
    predict_irft,
    predict_sft,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(build_items, ["bfcl_data", "sft_test", "params:evaluation"], ["evaluation_items", "evaluation_items_report"],
             name="build_eval_items"),
        node(predict_base, ["evaluation_items", "params:sft.policy_model", "params:llm", "params:evaluation"],
             "predictions_base", name="predict_base"),
        node(predict_sft, ["evaluation_items", "params:sft.policy_model", "sft_adapter", "params:llm",
                           "params:evaluation"], "predictions_sft", name="predict_sft"),
        node(predict_irft, ["evaluation_items", "irft_policy", "params:llm", "params:evaluation"],
             "predictions_irft", name="predict_irft"),
        node(evaluate, ["evaluation_items", "predictions_base", "predictions_sft", "predictions_irft",
                        "params:evaluation", "evaluation_items_report"],
             ["evaluation_scores", "evaluation_report", "evaluation_report_html", "evaluation_plot",
              "evaluation_metrics"], name="evaluate"),
        node(decontaminate, ["sft_train", "bfcl_data", "params:evaluation"], "decontamination_report",
             name="decontaminate"),
    ])

"""``evaluation``: base vs sft vs irft on the same BFCL subset and held-out synthetic test set.

``create_pipeline(policies=...)`` evaluates fewer policies: the project registers
``evaluation_base_sft`` (base and sft, no irft policy needed), which the ablation grid runs.
"""

from collections.abc import Sequence

from kedro.pipeline import Pipeline, node, pipeline

from toolace_kedro.pipelines.evaluation.nodes import (
    MODELS,
    build_items,
    decontaminate,
    evaluate_policies,
    predict_base,
    predict_irft,
    predict_sft,
)
from toolace_kedro.pipelines.evaluation.report import prediction_table

_PREDICT = {
    "base": node(predict_base, ["evaluation_items", "params:sft.policy_model", "params:llm", "params:evaluation"],
                 "predictions_base", name="predict_base"),
    "sft": node(predict_sft, ["evaluation_items", "params:sft.policy_model", "sft_adapter", "params:llm",
                              "params:evaluation"], "predictions_sft", name="predict_sft"),
    "irft": node(predict_irft, ["evaluation_items", "irft_policy", "params:llm", "params:evaluation"],
                 "predictions_irft", name="predict_irft"),
}
_OUTPUTS = ["evaluation_scores", "evaluation_report", "evaluation_report_html", "evaluation_plot", "evaluation_metrics"]


def create_pipeline(policies: Sequence[str] = MODELS, **kwargs) -> Pipeline:
    unknown = sorted(set(policies) - set(MODELS))
    if unknown or not policies:
        raise ValueError(f"evaluation policies must be a non-empty subset of {MODELS}, got {list(policies)}")
    chosen = [m for m in MODELS if m in policies]
    scoring = node(evaluate_policies,
                   {"items": "evaluation_items", "params": "params:evaluation",
                    "items_report": "evaluation_items_report", **{f"predictions_{m}": f"predictions_{m}" for m in chosen}},
                   _OUTPUTS, name="evaluate")
    table = node(prediction_table, {"scores": "evaluation_scores", **{f"predictions_{m}": f"predictions_{m}" for m in chosen}},
                 "evaluation_predictions", name="tabulate_predictions")
    return pipeline([
        node(build_items, {"bfcl_data": "bfcl_data", "sft_test": "sft_test", "params": "params:evaluation",
                           "bfcl_multi_turn": "bfcl_multi_turn_data"},
             ["evaluation_items", "evaluation_items_report"], name="build_eval_items"),
        *(_PREDICT[m] for m in chosen),
        scoring,
        table,
        node(decontaminate, ["sft_train", "bfcl_data", "params:evaluation"], "decontamination_report",
             name="decontaminate"),
    ])

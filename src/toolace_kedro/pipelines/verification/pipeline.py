"""``verification``: canonical dialogs → verified and rejected dialogs (rules, de-duplication, LLM judges)."""

from kedro.pipeline import Pipeline, node, pipeline

from toolace_kedro.pipelines.verification.nodes import (
    apply_rules,
    deduplicate_dialogs,
    judge,
    split_dialogs,
    summarise_verification,
)

_OUTCOMES = ["verification_rule_outcomes", "verification_dedup_outcomes", "verification_judge_outcomes"]


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(apply_rules, ["dialogs", "params:verification"], "verification_rule_outcomes", name="apply_rules"),
        node(deduplicate_dialogs, ["dialogs", "verification_rule_outcomes", "params:verification"],
             "verification_dedup_outcomes", name="deduplicate_dialogs"),
        node(judge, ["dialogs", "verification_rule_outcomes", "verification_dedup_outcomes", "params:llm",
                     "params:verification"], "verification_judge_outcomes", name="judge_dialogs"),
        node(split_dialogs, ["dialogs", *_OUTCOMES, "params:verification"], ["verified_dialogs", "rejected_dialogs"],
             name="split_dialogs"),
        node(summarise_verification, ["dialogs", *_OUTCOMES, "params:verification"],
             ["verification_report", "verification_metrics", "verification_rejections_plot"],
             name="summarise_verification"),
    ])

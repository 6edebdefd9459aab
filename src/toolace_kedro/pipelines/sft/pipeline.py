"""``sft``: verified dialogs → train/test split → easy-to-hard curriculum → LoRA SFT adapter."""

from kedro.pipeline import Pipeline, node, pipeline

from toolace_kedro.pipelines.sft.nodes import merge_sft_adapter, order_curriculum, split_train_test, train_sft


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(split_train_test, ["verified_dialogs", "params:sft"], ["sft_train", "sft_test", "sft_split_report"],
             name="split_train_test"),
        node(order_curriculum, ["sft_train", "params:sft"], "sft_curriculum", name="order_curriculum"),
        node(train_sft, ["sft_curriculum", "sft_test", "params:sft", "sft_split_report"],
             ["sft_adapter", "sft_report", "sft_metrics"], name="train_sft"),
    ])


def create_export_pipeline(**kwargs) -> Pipeline:
    """Optional: base + the latest ``sft_adapter`` merged into ``sft_merged_model``."""
    return pipeline([
        node(merge_sft_adapter, ["sft_adapter", "params:sft"], "sft_merged_model", name="merge_sft_adapter"),
    ])

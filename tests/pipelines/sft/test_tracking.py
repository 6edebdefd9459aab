"""One nested MLflow run per curriculum stage, under the Kedro run's run, linked by the run id."""

import mlflow
import pytest

from toolace_kedro.pipelines.sft.nodes import order_curriculum, train_sft


@pytest.fixture
def tracking(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("sft-test")
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


def test_stage_runs_are_nested_under_the_kedro_run(sft_dialogs, sft_params, tracking):
    params = {**sft_params, "n_stages": 2, "measure_test_nll": False,
              "training": {**sft_params["training"], "report_to": "mlflow"}}
    curriculum = order_curriculum(sft_dialogs[:8], {**params, "difficulty": "meta"})
    with mlflow.start_run(run_name="sft") as parent:  # what kedro-mlflow opens around `kedro run`
        mlflow.set_tag("run_id", "2026-11-22T00.00.00.000Z")  # kedro-mlflow tags the Kedro run id
        _, report, _ = train_sft(curriculum, [], params)
        import gc

        gc.collect()  # the stage trainers are gone: their MLflowCallback must not end the Kedro run's run
        assert mlflow.active_run().info.run_id == parent.info.run_id
    client = mlflow.tracking.MlflowClient()
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'", order_by=["start_time ASC"])
    assert [r.info.run_name for r in children] == ["sft-stage-1-of-2", "sft-stage-2-of-2"]
    assert [r.info.run_id for r in children] == [s["mlflow_run_id"] for s in report["stages"]]
    for k, run in enumerate(children, start=1):
        assert run.info.status == "FINISHED"
        assert run.data.tags["kedro_run_id"] == "2026-11-22T00.00.00.000Z" and run.data.tags["sft.stage"] == str(k)
        assert run.data.params["sft.lora.r"] == "4" and run.data.params["learning_rate"] == "0.005"
        assert run.data.params["sft.stage_samples"] == "4"
        assert {"loss", "tokens_per_s", "peak_memory_mb", "loss_start", "loss_end"} <= set(run.data.metrics)
        history = client.get_metric_history(run.info.run_id, "loss")
        assert len(history) == 2  # a point per optimisation step: the loss curve
    assert mlflow.active_run() is None


def test_a_stage_that_fails_is_closed_as_failed(sft_dialogs, sft_params, tracking, monkeypatch):
    from trl import SFTTrainer

    def boom(self, *args, **kwargs):
        self.callback_handler.on_train_begin(self.args, self.state, self.control)  # MLflowCallback opens the run
        raise RuntimeError("out of memory")

    monkeypatch.setattr(SFTTrainer, "train", boom)
    params = {**sft_params, "n_stages": 1, "measure_test_nll": False,
              "training": {**sft_params["training"], "report_to": "mlflow"}}
    curriculum = order_curriculum(sft_dialogs[:4], {**params, "difficulty": "meta"})
    with mlflow.start_run(run_name="sft") as parent:
        with pytest.raises(RuntimeError, match="out of memory"):
            train_sft(curriculum, [], params)
        assert mlflow.active_run().info.run_id == parent.info.run_id
    child = mlflow.tracking.MlflowClient().search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")[0]
    assert child.info.run_name == "sft-stage-1-of-1" and child.info.status == "FAILED"

"""Entry module of a distributed SFT job: ``accelerate launch ... -m toolace_kedro.pipelines.sft.launch <job dir>``.

Every process reads the job written by ``distributed.write_job``, trains the curriculum stages
with the same code as the single-process node (``training.fit_curriculum``), and takes part in
``save_model`` (which gathers sharded weights); the main process writes ``<job>/adapter`` (adapter
and tokenizer) and ``<job>/result.json`` (the training summary).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.curriculum import stages_of
from toolace_kedro.pipelines.sft.training import fit_curriculum

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: accelerate launch ... -m toolace_kedro.pipelines.sft.launch <job dir>", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    job = Path(args[0])
    spec = json.loads((job / "job.json").read_text())
    params = SFTParams.model_validate(spec["params"])
    with open(job / "curriculum.jsonl", encoding="utf-8") as handle:
        curriculum = [json.loads(line) for line in handle if line.strip()]
    tracking = spec.get("mlflow") or {}
    if tracking.get("tracking_uri"):
        import mlflow

        mlflow.set_tracking_uri(tracking["tracking_uri"])
        if tracking.get("experiment_id"):
            mlflow.set_experiment(experiment_id=tracking["experiment_id"])
    trainer, tokenizer, summary = fit_curriculum(stages_of(curriculum), params, str(job / "work"),
                                                 parent_run_id=tracking.get("parent_run_id"),
                                                 decision=False)  # the node tunes the saved adapter, one process
    trainer.save_model(str(job / "adapter"))  # collective: every rank must call it
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(job / "adapter"))
        summary["world_size"] = trainer.args.world_size
        (job / "result.json").write_text(json.dumps(summary, indent=1))
        logger.info("distributed SFT job %s done: %s", job, job / "adapter")
    return 0


if __name__ == "__main__":
    sys.exit(main())

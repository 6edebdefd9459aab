"""Scale-out: the same training under ``accelerate launch`` (DeepSpeed ZeRO-2/3 or FSDP).

When ``distributed.enabled`` is ``true``, or ``auto`` with more than one GPU visible, the
``train_sft`` node writes a *job* — ``job.json`` (parameters and the MLflow parent run),
``curriculum.jsonl`` — into ``distributed.work_dir/<job>/`` and runs::

    python -m accelerate.commands.launch --config_file conf/accelerate/deepspeed_zero2.yaml \\
        --num_processes 8 --num_machines 1 --machine_rank 0 \\
        -m toolace_kedro.pipelines.sft.launch <job dir>

(``accelerate launch``) as a subprocess. Every process trains its shard of each batch; the last
stage's ``trainer.save_model`` gathers the adapter (ZeRO-3/FSDP shards included) into
``<job>/adapter`` and rank 0 writes ``<job>/result.json``; the node hands the adapter directory
to ``ModelDirectoryDataset``, which copies it into the versioned catalog entry. This is the one
place where the stage writes files itself: a subprocess needs its input on disk.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from toolace_kedro.pipelines.sft.config import SFTParams

__all__ = ["ENTRY_MODULE", "gpu_count", "launch_command", "read_result", "run_job", "should_launch", "write_job"]

logger = logging.getLogger(__name__)

ENTRY_MODULE = "toolace_kedro.pipelines.sft.launch"


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def should_launch(params: SFTParams, gpus: int | None = None) -> bool:
    """``enabled: true`` always launches; ``auto`` when more than one GPU is visible (or several
    machines are configured); ``false`` never."""
    setting = params.distributed.enabled
    if setting == "auto":
        gpus = gpu_count() if gpus is None else gpus
        return gpus > 1 or params.distributed.num_machines > 1
    return bool(setting)


def write_job(job_dir: str | os.PathLike, curriculum: list[dict[str, Any]], params: SFTParams,
              mlflow_run: dict[str, Any] | None = None) -> Path:
    """Write the job the launched processes read; returns its directory."""
    job = Path(job_dir)
    job.mkdir(parents=True, exist_ok=False)
    with open(job / "curriculum.jsonl", "w", encoding="utf-8") as handle:
        for sample in curriculum:
            handle.write(json.dumps(sample, ensure_ascii=False) + "\n")
    (job / "job.json").write_text(json.dumps({"params": params.model_dump(), "mlflow": mlflow_run or {}}, indent=1))
    return job


def launch_command(job_dir: str | os.PathLike, params: SFTParams, gpus_per_machine: int,
                   python: str | None = None) -> list[str]:
    """The ``accelerate launch`` command line for a job (total processes = GPUs per machine ×
    machines unless ``num_processes`` says otherwise)."""
    d = params.distributed
    config = Path(d.accelerate_config)
    if not config.is_file():
        raise FileNotFoundError(f"sft.distributed.accelerate_config {config} does not exist "
                                "(shipped: conf/accelerate/deepspeed_zero2.yaml, deepspeed_zero3.yaml, fsdp.yaml)")
    processes = d.num_processes or max(1, gpus_per_machine) * d.num_machines
    cmd = [python or sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
           "--num_processes", str(processes), "--num_machines", str(d.num_machines),
           "--machine_rank", str(d.machine_rank)]
    if d.main_process_ip:
        cmd += ["--main_process_ip", d.main_process_ip]
    if d.main_process_port:
        cmd += ["--main_process_port", str(d.main_process_port)]
    if d.num_machines > 1 and not d.main_process_ip:
        raise ValueError("sft.distributed.num_machines > 1 needs main_process_ip (the rank-0 machine's address)")
    return [*cmd, *d.extra_args, "-m", ENTRY_MODULE, str(job_dir)]


def run_job(cmd: list[str], job_dir: str | os.PathLike) -> None:
    """Run the launch command; its output goes to this process's stdout/stderr."""
    logger.info("launching: %s", " ".join(cmd))
    completed = subprocess.run(cmd, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"distributed SFT job {job_dir} failed with exit status {completed.returncode}: "
                           f"{' '.join(cmd)}")


def read_result(job_dir: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """``(adapter directory, training summary)`` written by the launched job."""
    job = Path(job_dir)
    adapter, result = job / "adapter", job / "result.json"
    if not (adapter / "adapter_config.json").is_file() or not result.is_file():
        raise RuntimeError(f"distributed SFT job {job} finished without {adapter}/adapter_config.json and {result}")
    return str(adapter), json.loads(result.read_text())

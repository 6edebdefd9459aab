"""Scale-out: the accelerate command the node builds, the job it writes, and one real launch
(a single CPU process; no multi-GPU launch here)."""

import json
import sys
from pathlib import Path

import pytest
from peft import PeftModel

from toolace_kedro.models import load_policy
from toolace_kedro.pipelines.sft import distributed, launch
from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.nodes import order_curriculum, train_sft

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ["deepspeed_zero2.yaml", "deepspeed_zero3.yaml", "fsdp.yaml"]


@pytest.mark.parametrize("name", CONFIGS)
def test_launch_command_for_one_machine(name, tmp_path):
    config = ROOT / "conf/accelerate" / name
    params = SFTParams.model_validate({"distributed": {"accelerate_config": str(config)}})
    assert distributed.launch_command(tmp_path / "job", params, 8, python="py") == [
        "py", "-m", "accelerate.commands.launch", "--config_file", str(config), "--num_processes", "8",
        "--num_machines", "1", "--machine_rank", "0",
        "-m", "toolace_kedro.pipelines.sft.launch", str(tmp_path / "job")]


def test_launch_command_for_several_machines(tmp_path):
    params = SFTParams.model_validate({"distributed": {
        "accelerate_config": str(ROOT / "conf/accelerate/deepspeed_zero3.yaml"), "num_machines": 2,
        "machine_rank": 1, "main_process_ip": "10.0.0.1", "main_process_port": 29500,
        "extra_args": ["--rdzv_backend", "static"]}})
    cmd = distributed.launch_command("job", params, 4, python="py")
    assert cmd[cmd.index("--num_processes") + 1] == "8"  # 4 GPUs x 2 machines
    assert cmd[cmd.index("--machine_rank") + 1] == "1" and cmd[cmd.index("--main_process_ip") + 1] == "10.0.0.1"
    assert cmd[cmd.index("--main_process_port") + 1] == "29500"
    assert cmd[-5:] == ["--rdzv_backend", "static", "-m", distributed.ENTRY_MODULE, "job"]
    params.distributed.main_process_ip = None
    with pytest.raises(ValueError, match="main_process_ip"):
        distributed.launch_command("job", params, 4)
    params.distributed.accelerate_config = "conf/accelerate/missing.yaml"
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        distributed.launch_command("job", params, 4)


def test_when_to_launch():
    auto = SFTParams()
    assert [distributed.should_launch(auto, gpus) for gpus in (0, 1, 2, 8)] == [False, False, True, True]
    assert distributed.should_launch(SFTParams.model_validate({"distributed": {"enabled": True}}), 0)
    assert not distributed.should_launch(SFTParams.model_validate({"distributed": {"enabled": False}}), 8)


def test_entry_module_usage():
    assert launch.main([]) == 2


def test_node_launches_accelerate_and_reads_the_adapter_back(sft_dialogs, sft_params, tiny_model_dir, tmp_path):
    """`accelerate launch` with one CPU process runs the job end to end; the node returns the directory."""
    config = tmp_path / "cpu.yaml"
    config.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nmixed_precision: 'no'\n"
                      "num_machines: 1\nnum_processes: 1\nuse_cpu: true\n")
    params = {**sft_params, "distributed": {"enabled": True, "accelerate_config": str(config),
                                            "work_dir": str(tmp_path / "jobs")}}
    curriculum = order_curriculum(sft_dialogs[:8], {**params, "difficulty": "meta"})
    adapter, report, metrics = train_sft(curriculum, sft_dialogs[8:10], params)
    job = Path(adapter).parent
    assert (job / "job.json").is_file() and len((job / "curriculum.jsonl").read_text().splitlines()) == 8
    assert json.loads((job / "job.json").read_text())["params"]["policy_model"] == tiny_model_dir
    assert report["distributed"] is True and [s["name"] for s in report["stages"]] == ["sft-stage-1-of-2",
                                                                                       "sft-stage-2-of-2"]
    assert json.loads((job / "result.json").read_text())["world_size"] == 1
    assert report["test_nll_before"] is None and metrics["stages"]["value"] == 2
    model, _ = load_policy(tiny_model_dir, adapter=adapter, cached=False)
    assert isinstance(model, PeftModel)


def test_write_job_refuses_to_overwrite(tmp_path):
    distributed.write_job(tmp_path / "job", [{"id": "a"}], SFTParams())
    with pytest.raises(FileExistsError):
        distributed.write_job(tmp_path / "job", [], SFTParams())
    with pytest.raises(RuntimeError, match="finished without"):
        distributed.read_result(tmp_path / "job")
    with pytest.raises(RuntimeError, match="exit status 3"):
        distributed.run_job([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "job")

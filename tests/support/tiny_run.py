"""A whole ``kedro run`` (all six stages) on a copy of the project, in seconds-to-minutes: the
synthesis stages talk to a scripted OpenAI-compatible server on loopback, the policy is a 2-layer
random Llama, and every stage's parameters are conf/base's shrunk to a few items. The run writes
the versioned datasets a user's run writes, so what reads them (the notebook) can be executed."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

import toolace_kedro
from tests.pipelines.api_synthesis.conftest import PARAMS as SYNTHESIS_PARAMS
from tests.pipelines.api_synthesis.conftest import scripted_answer
from tests.pipelines.dialog_generation.conftest import PARAMS as DIALOG_PARAMS
from tests.pipelines.dialog_generation.conftest import scripted_dialog_answer
from tests.support.openai_server import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(toolace_kedro.__file__).resolve().parents[1]
SYNTHESIS_PROMPTS = ("You read documentation", "You design APIs", "You are an API designer")


def respond(messages, payload):
    schema = payload.get("response_format", {}).get("json_schema", {}).get("schema") or {}
    if messages[0]["content"].startswith(SYNTHESIS_PROMPTS):
        return scripted_answer(messages, payload, schema)
    return scripted_dialog_answer(messages, payload, schema)


def merged(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` merged in key by key (nested dicts too)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def tiny_parameters(url: str, model_dir: str, work: Path) -> dict[str, dict[str, Any]]:
    """Every parameter block of the tiny run (whole blocks: they replace conf/base's)."""
    base = {}
    for path in (ROOT / "conf" / "base").glob("parameters*.yml"):
        base.update(yaml.safe_load(path.read_text()) or {})
    return {
        "llm": {"backend": "openai", "base_url": url, "model": "test-model", "cache_dir": str(work / "llm_cache"),
                "progress": False, "max_concurrency": 8, "timeout_s": 10.0, "max_retries": 1, "backoff_s": 0.01,
                "max_backoff_s": 0.05, "api_key_env": "TOOLACE_TEST_KEY", "credentials": None, "seed": 0},
        "api_synthesis": {**copy.deepcopy(SYNTHESIS_PARAMS), "checkpoint": {"dir": str(work / "api_ckpt")}},
        "dialog_generation": {**copy.deepcopy(DIALOG_PARAMS), "n_dialogs": 24,
                              "checkpoint": {"dir": str(work / "dialog_ckpt")}},
        "verification": merged(base["verification"], {"layers": {"judges": False}, "quality": {"require": []}}),
        "sft": merged(base["sft"], {
            "policy_model": model_dir, "min_test": 4, "test_fraction": 0.25, "max_length": 512, "n_stages": 2,
            "difficulty": "policy", "measure_test_nll": True, "lora": {"r": 4, "alpha": 8, "layers": None},
            "training": {"per_device_batch_size": 4, "report_to": "none", "system_metrics": False,
                         "gradient_checkpointing": False},
            "distributed": {"enabled": False}}),
        "irft": merged(base["irft"], {
            "mining": {"ratio": 0.5, "max_samples": 4, "batch_size": 4, "candidates": 6, "answer_tokens": 12},
            "search": {"k": 2, "n_iterations": 2, "max_new_tokens": 6, "simulation_tokens": 2, "batch_samples": 4},
            "optimisation": {"learning_rate": 1e-3, "batch_size": 2, "gradient_accumulation_steps": 1,
                             "max_length": 512, "report_to": "none"}}),
        "evaluation": merged(base["evaluation"], {
            "bfcl": {"categories": ["simple_python", "irrelevance"], "sample_size": 3},
            "generation": {"backend": "transformers", "max_tokens": 12, "batch_size": 4,
                           "max_tokens_by_category": {}}}),
    }


def make_project(tmp: Path) -> Path:
    """A copy of the project's configuration and raw inputs; the code comes from ``SRC``."""
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    shutil.copytree(ROOT / "data" / "01_raw", project / "data" / "01_raw")
    (project / "src").mkdir()  # kedro wants it
    return project


def kedro_env() -> dict[str, str]:
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1",
            "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT), os.environ.get("PYTHONPATH", "")])}


def run_tiny_project(tmp: Path, model_dir: str, timeout: int = 900) -> tuple[Path, subprocess.CompletedProcess]:
    """``make_project`` + the tiny parameters + ``kedro run`` (the default pipeline)."""
    project = make_project(tmp)
    for path in (project / "conf" / "base").glob("parameters*.yml"):
        path.unlink()
    with serve_in_thread(responder=respond) as (url, _state):
        params = tiny_parameters(url, model_dir, project / "data" / "02_intermediate")
        (project / "conf" / "base" / "parameters.yml").write_text(yaml.safe_dump(json.loads(json.dumps(params))))
        run = subprocess.run([sys.executable, "-m", "kedro", "run"], cwd=project, env=kedro_env(),
                             capture_output=True, text=True, timeout=timeout)
    return project, run

"""A whole ``kedro run`` (all six stages) on a copy of the project, in under a minute: the
synthesis stages talk to a scripted OpenAI-compatible server on loopback, the policy is a 2-layer
random Llama; the synthesis stages take their tests' parameters, the others ``conf/gpu``'s (merged
over conf/base as ``--env gpu`` merges them) shrunk to a few items (BFCL: 3 items of 2
categories), on the CPU: the GPU configuration at tiny scale. The run writes the versioned
datasets a user's run writes, so what reads them (the notebook) can be executed; it writes them
under a data root outside the project (``conf/test/globals.yml``), response cache and checkpoints
included."""

from __future__ import annotations

import copy
import os
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
from tests.support.kedro_project import make_project
from tests.support.openai_server import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(toolace_kedro.__file__).resolve().parents[1]
#: system prompts of the api_synthesis requests (their keys are unique per request)
SYNTHESIS_PROMPTS = ("You read documentation", "You design APIs", "You are an API designer")


def respond(messages, payload):
    """The scripted server's answer: api_synthesis' or dialog_generation's scripted model."""
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


def env_parameters(env: str = "gpu") -> dict[str, Any]:
    """conf/base's parameter blocks with conf/``env``'s merged in key by key (as Kedro merges them)."""
    blocks: dict[str, Any] = {}
    for folder in ("base", env):
        for path in (ROOT / "conf" / folder).glob("parameters*.yml"):
            blocks = merged(blocks, yaml.safe_load(path.read_text()) or {})
    return blocks


#: the response cache and the checkpoints, under the data root as in conf/base
_UNDER_ROOT = "${globals:local_root,${globals:data_root}}/02_intermediate"


def tiny_parameters(url: str, model_dir: str) -> dict[str, dict[str, Any]]:
    """Every parameter block of the tiny run (whole blocks: they replace conf/base's)."""
    base = env_parameters("gpu")
    return {
        "llm": {**{k: v for k, v in base["llm"].items() if k in ("prefill_tokens", "max_batch_tokens",
                                                                  "prefix_cache_tokens")},
                "backend": "openai", "base_url": url, "model": "test-model", "cache_dir": f"{_UNDER_ROOT}/llm_cache",
                "progress": False, "max_concurrency": 8, "timeout_s": 10.0, "max_retries": 1, "backoff_s": 0.01,
                "max_backoff_s": 0.05, "api_key_env": "TOOLACE_TEST_KEY", "credentials": None, "seed": 0},
        "api_synthesis": {**copy.deepcopy(SYNTHESIS_PARAMS), "checkpoint": {"dir": f"{_UNDER_ROOT}/checkpoints/api_synthesis"}},
        "dialog_generation": {**copy.deepcopy(DIALOG_PARAMS), "n_dialogs": 24,
                              "checkpoint": {"dir": f"{_UNDER_ROOT}/checkpoints/dialog_generation"}},
        # the scripted answers repeat by construction: no de-duplication
        "verification": merged(base["verification"], {"layers": {"judges": False, "dedup": False},
                                                      "quality": {"require": []}}),
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
            "multi_turn": {"categories": ["multi_turn_base"], "sample_size": 1, "max_steps": 1, "max_tokens": 8},
            "generation": {"backend": "transformers", "max_tokens": 12, "batch_size": 4}}),
    }


def data_root(tmp: Path) -> Path:
    """The tiny run's data root: beside the project, not inside it."""
    return tmp / "data"


def kedro_env(project: Path) -> dict[str, str]:
    """The environment of ``kedro run`` (and of a notebook kernel) in the project copy."""
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "KEDRO_ENV": "test",
            "KEDRO_LOGGING_CONFIG": str(project / "logging.yml"),
            "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT), os.environ.get("PYTHONPATH", "")])}


def run_tiny_project(tmp: Path, model_dir: str, timeout: int = 900) -> tuple[Path, subprocess.CompletedProcess]:
    """A project copy (``kedro_project.make_project``) with the tiny parameters, and ``kedro run``
    of the default pipeline in it; the data root is ``tmp/data`` (:func:`data_root`)."""
    with serve_in_thread(responder=respond) as (url, _state):
        project = make_project(tmp / "project", tiny_parameters(url, model_dir), data_root=data_root(tmp))
        run = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "test"], cwd=project, env=kedro_env(project),
                             capture_output=True, text=True, timeout=timeout)
    return project, run

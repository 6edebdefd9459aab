"""A throwaway copy of the Kedro project for ``kedro run`` in a subprocess.

The copy has this checkout's ``pyproject.toml`` and ``conf/base``, a ``conf/test`` environment
with the parameter blocks a test gives (whole top-level blocks: they replace base's, which the
copy drops, since the project merges environments' parameters key by key), the shipped ``data/01_raw`` and any versioned inputs;
everything the run writes (data, checkpoints, response cache, ``mlflow.db``) stays inside it, or, for
the data, under the ``data_root`` a test gives (``conf/test/globals.yml``).
The package itself is imported from this checkout (``PYTHONPATH``); logs go, plain and unwrapped,
to ``kedro.log`` in the project.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
#: a version folder name in Kedro's format, for inputs written by the test
VERSION = "2000-01-01T00.00.00.000Z"

_LOGGING = {
    "version": 1, "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"file": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "loggers": {"kedro": {"level": "INFO"}, "toolace_kedro": {"level": "INFO"}},
    "root": {"handlers": ["file"], "level": "WARNING"},
}

#: catalog paths of the record inputs a test may supply (versioned JSONL datasets)
_INPUTS = {"api_pool": "03_primary/api_pool.jsonl"}


def make_project(path: Path, parameters: dict[str, Any], inputs: dict[str, list] | None = None,
                 data_root: Path | None = None) -> Path:
    """Create the project at ``path``; ``parameters`` are top-level blocks for ``conf/test``;
    ``data_root`` (default: the project's ``data/``) is where the shipped raw inputs go and, through
    ``conf/test/globals.yml``, where the run writes."""
    (path / "src").mkdir(parents=True)  # Kedro wants the source folder inside the project
    shutil.copy(ROOT / "pyproject.toml", path / "pyproject.toml")
    shutil.copytree(ROOT / "conf" / "base", path / "conf" / "base")
    for file in (path / "conf" / "base").glob("parameters*.yml"):  # the test's blocks replace base's whole
        blocks = yaml.safe_load(file.read_text()) or {}
        if set(blocks) & set(parameters):
            kept = {k: v for k, v in blocks.items() if k not in parameters}
            file.write_text(yaml.safe_dump(kept, sort_keys=False)) if kept else file.unlink()
    (path / "conf" / "local").mkdir()
    (path / "conf" / "test").mkdir()
    (path / "conf" / "test" / "parameters.yml").write_text(yaml.safe_dump(parameters, sort_keys=False))
    if data_root is not None:
        (path / "conf" / "test" / "globals.yml").write_text(yaml.safe_dump({"data_root": str(data_root)}))
    data = path / "data" if data_root is None else data_root
    (path / "logging.yml").write_text(yaml.safe_dump(_LOGGING))
    shutil.copytree(ROOT / "data" / "01_raw", data / "01_raw")
    for name, records in (inputs or {}).items():
        target = data / _INPUTS[name] / VERSION / Path(_INPUTS[name]).name
        target.parent.mkdir(parents=True)
        target.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def start_kedro(project: Path, pipelines: str) -> subprocess.Popen:
    """``kedro run --pipelines <pipelines> --env test`` in the project, in the background;
    its output goes to ``kedro.log`` (read it with :func:`log`)."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "KEDRO_LOGGING_CONFIG": str(project / "logging.yml"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    with open(project / "kedro.log", "a") as out:
        return subprocess.Popen([sys.executable, "-m", "kedro", "run", "--pipelines", pipelines, "--env", "test"],
                                cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT)


def log(project: Path) -> str:
    return (project / "kedro.log").read_text(errors="replace")


def latest_version(project: Path, dataset_path: str) -> str:
    """The text of the newest version of a versioned file dataset of the run."""
    folder = project / dataset_path
    newest = sorted(p for p in folder.iterdir() if p.is_dir())[-1]
    return (newest / folder.name).read_text()


def loopback_llm(url: str) -> dict[str, Any]:
    """The ``llm`` parameters of a run against the loopback test server at ``url``: no cache,
    quick retries, a key from an environment variable the tests set."""
    return {"backend": "openai", "base_url": url, "model": "test-model", "cache_dir": None, "progress": False,
            "max_concurrency": 8, "timeout_s": 10, "max_retries": 1, "backoff_s": 0.01,
            "api_key_env": "TOOLACE_TEST_KEY", "credentials": None}


def kill_when_held(run: subprocess.Popen, state: Any, project: Path, timeout_s: float = 60) -> None:
    """SIGKILL ``run`` once every request in flight on the test server is one it holds back
    (``state.hold_after``), i.e. the run is stuck mid-synthesis; asserts it died of the kill."""
    try:
        deadline = time.monotonic() + timeout_s
        while not (state.held and state.in_flight == state.held) and run.poll() is None:
            assert time.monotonic() < deadline, "the run never reached the held requests"
            time.sleep(0.05)
        time.sleep(0.3)  # let the process take in the answers it has
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert run.returncode == -signal.SIGKILL, log(project)[-3000:]

"""What registering a policy in MLflow adds to a run: the seconds and the bytes of one
``log_policy_model`` (``toolace_kedro.models.mlflow_policy``, what ``MlflowCatalogHook`` does after
``irft_policy`` or ``sft_adapter`` is saved) of a model directory, into a throwaway SQLite store.

The default directory is the embedded SmolLM2-135M converted to safetensors (float32, the size of
a merged irft policy of the default run). The first call pays MLflow's model-logging imports.

    .venv/bin/python benchmarks/mlflow_log_model.py [--directory DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", default=None, help="model directory (default: the embedded model)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import mlflow

    from toolace_kedro.models import resolve_model
    from toolace_kedro.models.mlflow_policy import log_policy_model

    directory = Path(args.directory or resolve_model("smollm2-135m-instruct"))
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment(experiment_id=mlflow.create_experiment("bench", artifact_location=Path(tmp, "mlruns").as_uri()))
        print(f"directory {directory}: {_bytes(directory) / 1e6:.1f} MB; load average {os.getloadavg()[0]:.2f}")
        with mlflow.start_run():
            for i in range(args.repeat):
                start = time.perf_counter()
                info = log_policy_model(directory, f"policy-{i}", "bench-policy", {"kedro_run_id": "bench"})
                seconds = time.perf_counter() - start
                print(f"log + register {i + 1}: {seconds:.2f} s (version {info.registered_model_version})")
        print(f"artifact store after {args.repeat}: {_bytes(Path(tmp, 'mlruns')) / 1e6:.1f} MB; "
              f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

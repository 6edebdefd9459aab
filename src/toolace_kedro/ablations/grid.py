"""Run the ablation grid: one ``kedro run`` per variant (a subprocess), then the comparison table.

``python scripts/ablations.py`` (or ``make ablations``, ``python -m toolace_kedro.ablations``):

1. pins the shared inputs: the latest ``dialogs`` version (``--dialogs-version``) for the
   verification variants; for the training variants the ``verified_dialogs`` the reference
   variant wrote in this grid (else ``--verified-version``, else the latest one);
2. runs each variant (:mod:`toolace_kedro.ablations.variants`) with ``--params
   ablation.variant=<name>,ablation.grid=<grid id>,<overrides>``; the project's ``RunTagsHook``
   tags the variant's MLflow run ``ablation.variant`` / ``ablation.grid``;
3. finds each variant's MLflow run by those tags; kedro-mlflow's ``run_id`` tag on it is the
   Kedro run id, which is the save version of every dataset the run wrote;
4. loads those versions and writes ``ablations.md`` / ``ablations.json`` (``--output-dir``,
   default ``<data root>/08_reporting``; a copy and each variant's log under ``ablations/<grid id>/``).

A variant that fails keeps its row (status ``failed`` and the log's error line) and the grid goes
on; variants that need the reference's ``verified_dialogs`` are ``not run`` when it failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from toolace_kedro.ablations.table import build_table, error_line, held_out_set_id
from toolace_kedro.ablations.variants import (
    REFERENCE,
    VARIANTS,
    Variant,
    kedro_command,
    parse_params,
    pipelines_of,
    select_variants,
    shell,
)

__all__ = ["Project", "expected_minutes", "main", "run_grid"]

logger = logging.getLogger(__name__)

#: estimated minutes per pipeline in a grid (embedded default, 2-core CPU, with start-up; the base
#: policy's answers come from the response cache after the first variant), for the dry run's
#: estimate only; the measurements behind them are in benchmarks/README.md
STAGE_MINUTES = {"verification": 0.6, "sft": 2.2, "irft": 4.3, "evaluation": 4.5, "evaluation_base_sft": 1.2}
#: datasets read back from each variant's save version for the table
REPORTS = ("sft_split_report", "sft_report", "evaluation_scores")
_PENDING = "<written by {} in this grid>"


def expected_minutes(variants: list[Variant], irft: bool = False) -> float:
    return sum(STAGE_MINUTES[p] for v in variants for p in pipelines_of(v, irft))


def _utc_timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H.%M.%S")


class Project:
    """The Kedro project's catalog and MLflow store, read without starting a session (no hooks:
    reading versions must not open MLflow runs)."""

    def __init__(self, path: Path, env: str | None = None) -> None:
        from kedro.framework.project import settings
        from kedro.framework.startup import bootstrap_project

        self.path = path.resolve()
        self.env = env
        bootstrap_project(self.path)
        self.settings = settings

    @cached_property
    def loader(self):
        args = dict(self.settings.CONFIG_LOADER_ARGS)
        args["config_patterns"] = {**args.get("config_patterns", {}), "mlflow": ["mlflow*", "mlflow*/**"]}
        return self.settings.CONFIG_LOADER_CLASS(conf_source=str(self.path / self.settings.CONF_SOURCE),
                                                 env=self.env, **args)

    @cached_property
    def catalog(self):
        from kedro.config import MissingConfigException
        from kedro.io import DataCatalog

        try:
            credentials = self.loader["credentials"]
        except MissingConfigException:
            credentials = {}
        try:  # relative file paths are relative to the project, as in a Kedro session
            from kedro.framework.context.context import _convert_paths_to_absolute_posix
        except ImportError:  # pragma: no cover - another Kedro: run from the project folder
            return DataCatalog.from_config(self.loader["catalog"], credentials)
        return DataCatalog.from_config(_convert_paths_to_absolute_posix(self.path, self.loader["catalog"]), credentials)

    def reporting_dir(self) -> Path:
        """``08_reporting`` under the data root of ``globals.yml`` (``local_root`` where the data
        root is a URL: the table is written with local file I/O), relative paths from the project."""
        from kedro.config import MissingConfigException

        try:
            roots = self.loader["globals"]
        except MissingConfigException:
            roots = {}
        root = roots.get("data_root") or "data"
        if "://" in str(root):
            root = roots.get("local_root") or "data"
        return self.path / root / "08_reporting"

    def latest_version(self, name: str) -> str | None:
        """The newest saved version of a versioned dataset, ``None`` when there is none."""
        from kedro.io.core import DatasetError

        try:
            return self.catalog.get(name).resolve_load_version()
        except DatasetError:
            return None

    def load(self, name: str, version: str) -> Any:
        return self.catalog.load(name, version=version)

    def tracking_uri(self) -> str | None:
        """``server.mlflow_tracking_uri`` of ``mlflow.yml`` (relative paths: from the project), the
        environment's ``MLFLOW_TRACKING_URI``, or ``None`` when MLflow is not configured."""
        from kedro.config import MissingConfigException

        try:
            uri = (self.loader["mlflow"].get("server") or {}).get("mlflow_tracking_uri")
        except MissingConfigException:
            uri = None
        uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
        if uri and "://" not in uri and uri not in ("databricks", "databricks-uc"):
            uri = (self.path / uri).as_uri()  # a plain folder, as kedro-mlflow reads it
        elif uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            # relative to the project (kedro run's working directory); absolute, because MLflow
            # caches one store per URI string, whatever the working directory is later
            uri = f"sqlite:///{self.path / uri[len('sqlite:///'):]}"
        return uri

    def find_run(self, grid: str, variant: str) -> dict[str, Any] | None:
        """The MLflow run tagged with this grid and variant: ``{"run_id", "status", "save_version"}``."""
        uri = self.tracking_uri()
        if not uri:
            return None
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, f"tags.`ablation.grid` = '{grid}' and "
                                               f"tags.`ablation.variant` = '{variant}'",
                                  order_by=["attributes.start_time DESC"], max_results=1) if experiments else []
        if not runs:
            return None
        run = runs[0]
        return {"run_id": run.info.run_id, "status": run.info.status, "save_version": run.data.tags.get("run_id")}


def _version_after(project: Project, name: str, started: str) -> str | None:
    """Fallback without MLflow: the newest version of ``name`` saved since ``started``."""
    try:
        versions = project.catalog.get(name).list_versions(full_path=False)
    except Exception:  # noqa: BLE001 - no folder, no version
        versions = []
    later = sorted(v for v in versions if v >= started)
    return later[-1] if later else None


def collect_outputs(project: Project, save_version: str, verified_version: str) -> dict[str, Any]:
    """The datasets the table reads: the variant's own reports (its save version), the number of
    ``verified_dialogs`` it trained from and its held-out set. A missing one is left out."""
    outputs: dict[str, Any] = {}
    for name in REPORTS:
        try:
            outputs[name] = project.load(name, save_version)
        except Exception as exc:  # noqa: BLE001 - a report the run did not write (e.g. it failed early)
            logger.warning("%s@%s not loaded: %s", name, save_version, str(exc).splitlines()[0])
    try:
        outputs["verified_dialogs"] = len(project.load("verified_dialogs", verified_version))
    except Exception as exc:  # noqa: BLE001
        logger.warning("verified_dialogs@%s not loaded: %s", verified_version, str(exc).splitlines()[0])
    try:
        outputs["test_set"] = held_out_set_id(project.load("sft_test", save_version))
    except Exception as exc:  # noqa: BLE001
        logger.warning("sft_test@%s not loaded: %s", save_version, str(exc).splitlines()[0])
    return outputs


def _run_variant(project: Project, variant: Variant, command: list[str], log_path: Path, grid: str,
                 env_vars: dict[str, str]) -> dict[str, Any]:
    started_version = _utc_timestamp()
    start = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(f"$ {shell(command)}\n")
        log.flush()
        returncode = subprocess.run(command, cwd=project.path, env=env_vars, stdout=log, stderr=subprocess.STDOUT,
                                    check=False).returncode
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {"seconds": round(seconds, 1), "returncode": returncode}
    run = None
    try:
        run = project.find_run(grid, variant.name)
    except Exception as exc:  # noqa: BLE001 - the table can still be built from the files
        logger.warning("MLflow lookup failed for %s: %s", variant.name, exc)
    if run:
        result.update(mlflow_run_id=run["run_id"], mlflow_status=run["status"], save_version=run["save_version"])
    elif returncode == 0:
        logger.warning("%s: no MLflow run tagged ablation.variant=%s, ablation.grid=%s; taking the newest "
                       "sft_report version saved since the start", variant.name, variant.name, grid)
        result["save_version"] = _version_after(project, "sft_report", started_version)
    if returncode != 0:
        result.update(status="failed", error=error_line(log_path.read_text(errors="replace"), returncode))
    elif not result.get("save_version"):
        result.update(status="failed", error="the run finished but its save version was not found (MLflow run or "
                                             "sft_report version)")
    else:
        result["status"] = "ok"
    return result


def run_grid(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run (or, with ``dry_run``, print) every selected variant; the results for the table."""
    variants = select_variants(args.variants)
    project = Project(Path(args.project_path), args.env)
    grid = args.grid or _utc_timestamp()
    extra = parse_params(args.params)
    kedro = [sys.executable, "-m", "kedro"]
    names = {v.name for v in variants}
    dialogs_version = args.dialogs_version
    if any(v.runs_verification for v in variants) and not dialogs_version:
        dialogs_version = project.latest_version("dialogs")
    verified_version = args.verified_version
    if REFERENCE in names:
        if verified_version:
            logger.warning("--verified-version %s is not used: the training variants read the verified_dialogs "
                           "that %s writes in this grid", verified_version, REFERENCE)
        verified_version = None  # the reference's output, known once it ran
    elif not verified_version and any(not v.runs_verification for v in variants):
        verified_version = project.latest_version("verified_dialogs")
    out_dir = Path(args.output_dir)
    grid_dir = out_dir / "ablations" / grid
    minutes = expected_minutes(variants, args.irft)
    logger.info("ablation grid %s: %d variants (%s); expected about %.0f min on a 2-core CPU with the embedded "
                "default (benchmarks/README.md)", grid, len(variants), ", ".join(v.name for v in variants), minutes)
    for key in extra:
        for v in variants:
            if key in v.params:
                logger.warning("--params %s is overridden by variant %s (%s)", key, v.name, v.params[key])
    env_vars = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": os.environ.get("COLUMNS", "400")}
    if args.env:
        env_vars["KEDRO_ENV"] = args.env  # irft reads its round count from the environment's files
    missing = []
    if any(v.runs_verification for v in variants) and not dialogs_version:
        missing.append("dialogs (run the dialog_generation pipeline, or give --dialogs-version)")
    if REFERENCE not in names and any(not v.runs_verification for v in variants) and not verified_version:
        missing.append("verified_dialogs (run the verification pipeline, add the rules_and_judges variant, "
                       "or give --verified-version)")
    if missing and not args.dry_run:
        raise SystemExit("ablations: no version of " + "; ".join(missing))
    results: list[dict[str, Any]] = []
    grid_start = time.perf_counter()
    for k, variant in enumerate(variants, start=1):
        if variant.runs_verification:
            pinned = {"dialogs": dialogs_version or "<latest dialogs: none found>"}
        else:
            pinned = {"verified_dialogs": verified_version or _PENDING.format(REFERENCE)}
        command = kedro_command(variant, grid=grid, load_versions=pinned, kedro=kedro, env=args.env, irft=args.irft,
                                sample_size=args.sample_size, extra_params=extra)
        result: dict[str, Any] = {"variant": variant.name, "description": variant.description,
                                  "command": shell(command), "load_versions": pinned}
        results.append(result)
        if args.dry_run:
            print(shell(command))
            continue
        if not variant.runs_verification and not verified_version:
            result.update(status="not run", error=f"needs the verified_dialogs of {REFERENCE}, which failed")
            logger.error("[%d/%d] %s: not run (%s)", k, len(variants), variant.name, result["error"])
            continue
        grid_dir.mkdir(parents=True, exist_ok=True)
        log_path = grid_dir / f"{variant.name}.log"
        result["log"] = str(log_path)
        logger.info("[%d/%d] %s: %s (log %s)", k, len(variants), variant.name, "+".join(pipelines_of(variant, args.irft)),
                    log_path)
        result.update(_run_variant(project, variant, command, log_path, grid, env_vars))
        if result["status"] == "ok":
            verified_at = result["save_version"] if variant.runs_verification else verified_version
            result["outputs"] = collect_outputs(project, result["save_version"], verified_at)
            if variant.name == REFERENCE:
                verified_version = result["save_version"]
            logger.info("[%d/%d] %s: done in %.1f min (version %s, MLflow run %s)", k, len(variants), variant.name,
                        result["seconds"] / 60, result["save_version"], result.get("mlflow_run_id"))
        else:
            logger.error("[%d/%d] %s: FAILED after %.1f min: %s", k, len(variants), variant.name,
                         result["seconds"] / 60, result["error"])
    info = {"grid": grid, "reference": REFERENCE, "variants": [v.name for v in variants], "env": args.env,
            "irft": args.irft, "sample_size": args.sample_size, "params": extra, "dialogs_version": dialogs_version,
            "seconds": round(time.perf_counter() - grid_start, 1), "expected_minutes": round(minutes, 1)}
    return results, info


def write_table(results: list[dict[str, Any]], info: dict[str, Any], output_dir: Path) -> tuple[Path, Path]:
    markdown, table = build_table(results, info)
    output_dir.mkdir(parents=True, exist_ok=True)
    copies = output_dir / "ablations" / info["grid"]
    copies.mkdir(parents=True, exist_ok=True)
    paths = []
    for folder in (output_dir, copies):
        (folder / "ablations.md").write_text(markdown)
        (folder / "ablations.json").write_text(json.dumps(table, indent=2, default=str) + "\n")
        paths.append(folder / "ablations.md")
    return paths[0], paths[0].with_suffix(".json")


def _sample_size(text: str) -> int | str:
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an integer nor 'all'") from None
    if value < 1:
        raise argparse.ArgumentTypeError("the sample size must be at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ablations", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="variants:\n" + "\n".join(f"  {v.name:18} {v.description}"
                                                                 for v in VARIANTS.values()))
    p.add_argument("--variants", default="all", help="comma-separated variant names (default: all)")
    p.add_argument("--dry-run", action="store_true", help="print the kedro commands, run nothing")
    p.add_argument("--sample-size", default=None, type=_sample_size,
                   help="BFCL items per category for evaluation (an integer or 'all'; default: the configured one)")
    p.add_argument("--irft", action="store_true", help="also run irft and evaluate the irft policy (slower)")
    p.add_argument("--env", default=None, help="Kedro environment (e.g. paper)")
    p.add_argument("--params", default=None, help="extra --params for every variant, e.g. verification.judges.reject=true")
    p.add_argument("--dialogs-version", default=None, help="the dialogs version the verification variants read "
                                                           "(default: the latest)")
    p.add_argument("--verified-version", default=None,
                   help="verified_dialogs version for the training variants when rules_and_judges is not in the grid "
                        "(default: the latest)")
    p.add_argument("--output-dir", default=None,
                   help="where ablations.md/.json go (default: 08_reporting under the data root of globals.yml)")
    p.add_argument("--project-path", default=".", help="the Kedro project (default: the current directory)")
    p.add_argument("--grid", default=None, help="grid id for the ablation.grid tag (default: a UTC timestamp)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    output_dir = Path(args.output_dir) if args.output_dir else Project(Path(args.project_path), args.env).reporting_dir()
    if not output_dir.is_absolute():
        output_dir = Path(args.project_path) / output_dir
    args.output_dir = str(output_dir)
    try:
        results, info = run_grid(args)
    except ValueError as exc:
        print(f"ablations: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        return 0
    md_path, json_path = write_table(results, info, output_dir)
    failed = [r["variant"] for r in results if r.get("status") != "ok"]
    logger.info("ablation grid %s: %d of %d variants ok in %.1f min; table %s, %s%s", info["grid"],
                len(results) - len(failed), len(results), info["seconds"] / 60, md_path, json_path,
                f"; failed: {', '.join(failed)}" if failed else "")
    return 1 if failed else 0

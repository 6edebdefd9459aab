"""End to end: ``kedro run --pipelines verification`` on a copy of the project whose ``dialogs``
file holds a corrupted JSON line and a record that is not a canonical dialog. The run completes;
the report names the skipped line and the rejected record by file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import toolace_kedro
from tests.pipelines.verification.conftest import clean_samples
from tests.support.kedro_project import make_project

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(toolace_kedro.__file__).resolve().parents[1]
VERSION = "2026-01-01T00.00.00.000Z"


def test_verification_run_skips_a_corrupted_line_and_rejects_a_non_canonical_record(tmp_path):
    project = make_project(tmp_path / "project", {})
    path = project / "data/03_primary/dialogs.jsonl" / VERSION / "dialogs.jsonl"
    path.parent.mkdir(parents=True)
    good = list(clean_samples().values())[:3]
    path.write_text("\n".join([json.dumps(good[0]), '{"id": "cut", "messages": [{"role": "us',
                               json.dumps(good[1]), json.dumps({"id": "odd", "type": "single", "turns": []}),
                               json.dumps(good[2])]) + "\n")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "400",  # (rich logging: one line per record)
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines", "verification",
                          "--params", "verification.layers.judges=false"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert log.count(f"skipped bad line {path}:2: Unterminated string") == 1  # once, though five nodes read it

    (report_file,) = (project / "data/08_reporting/verification_report.json").glob("*/verification_report.json")
    report = json.loads(report_file.read_text())
    where = f"data/03_primary/dialogs.jsonl/{VERSION}/dialogs.jsonl"
    skipped = report["skipped_input"]["dialogs"]
    assert (skipped["records"], skipped["skipped"], skipped["by_reason"]) == (5, 1, {"bad_json": 1})
    assert skipped["source"].endswith(where) and skipped["examples"][0].startswith(f"{skipped['source']}:2: bad_json")
    assert report["not_canonical"]["rejected"] == 1
    assert report["not_canonical"]["examples"][0].startswith(f"{skipped['source']}:4 (id 'odd'): not_canonical")
    assert (report["dialogs"], report["verified"]) == (4, 3)
    (rejected_file,) = (project / "data/04_feature/rejected_dialogs.jsonl").glob("*/rejected_dialogs.jsonl")
    (rejected,) = [json.loads(line) for line in rejected_file.read_text().splitlines()]
    assert rejected["id"] == "odd" and "dialog.missing_field" in rejected["meta"]["rejection"]["rules"]

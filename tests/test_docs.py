"""The docs site builds in strict mode: a broken link or a page missing from the nav fails (not with
``-q``: mkdocs 1.6 then drops the warnings strict mode counts)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _build(project: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(project / "mkdocs.yml"),
                           "-d", str(site)], capture_output=True, text=True, timeout=120)


def test_docs_build_strict(tmp_path):
    result = _build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "sft" / "index.html").exists()


def test_a_broken_link_fails_the_build(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs", project / "docs")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    with open(project / "docs" / "sft.md", "a", encoding="utf-8") as handle:
        handle.write("\nSee [the missing page](no_such_page.md).\n")
    result = _build(project, tmp_path / "site")
    assert result.returncode != 0 and "no_such_page.md" in result.stderr


def test_configuration_reference_is_current():
    """docs/configuration_reference.md is what the parameter models generate (regenerate with
    ``python -m toolace_kedro.params_reference``)."""
    from toolace_kedro import params_reference

    assert params_reference.PAGE.read_text(encoding="utf-8") == params_reference.render(), \
        "stale: run python -m toolace_kedro.params_reference"


def test_configuration_reference_lists_every_key():
    from toolace_kedro import params_reference
    from toolace_kedro.hooks import PARAMETER_MODELS

    page = params_reference.render()
    undescribed = []
    for block in PARAMETER_MODELS:
        for path, _type, _default, description in params_reference.rows(params_reference.model_class(block)):
            assert f"| `{'.'.join(path)}` |" in page
            undescribed += [] if description else [f"{block}.{'.'.join(path)}"]
    assert undescribed == [], f"parameters without a description: {undescribed}"
    # nested blocks become dotted keys; conf/base values appear beside the default
    assert "| `judges.votes` | int | `1` |" in page
    assert "| `batch_size` | int | `8` | `48` |" in page


def test_reference_type_names():
    from typing import Literal

    from toolace_kedro.params_reference import type_name

    assert type_name(Literal["a", "b"]) == '"a" | "b"'
    assert type_name(int | None) == "int | null"
    assert type_name(list[str]) == "list[str]"
    assert type_name(dict[str, float]) == "dict[str, float]"

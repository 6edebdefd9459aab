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

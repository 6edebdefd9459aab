"""Measured figures live in benchmarks/RESULTS.md (and the older table of benchmarks/README.md),
not in the code's comments and docstrings or the configuration's comments: a figure there has no
date, host or command, and goes stale silently."""

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = re.compile(
    r"\b20\d\d-[01]\d-[0-3]\d\b"                               # a date
    r"|\b\d+(?:\.\d+)?\s?(?:ms|s|sec|seconds|min|minutes)\b"   # a duration
    r"|\b\d+(?:\.\d+)?\s?(?:[KMGT]i?B)\b"                      # a size
    r"|\b\d+(?:\.\d+)?\s?(?:x|×)\s?(?:faster|slower)"          # a speed-up
    r"|\bsession \d+|ARCHITECTURE §")


def _python_text(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every comment and docstring in ``path``."""
    source = path.read_text(encoding="utf-8")
    found = [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
             if t.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append((node.body[0].lineno, doc))
    return found


def _yaml_comments(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if "#" in line:  # the comment part (no '#' inside this project's YAML values)
            found.append((number, line.split("#", 1)[1]))
    return found


def figures(texts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    return [(line, m.group(0)) for line, text in texts for m in FIGURE.finditer(text)]


def test_no_figures_in_code_or_config():
    wrong = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        wrong += [f"{path.relative_to(ROOT)}:{n}: {f!r}" for n, f in figures(_python_text(path))]
    for path in sorted((ROOT / "conf").rglob("*.yml")):
        wrong += [f"{path.relative_to(ROOT)}:{n}: {f!r}" for n, f in figures(_yaml_comments(path))]
    assert not wrong, "figures belong in benchmarks/RESULTS.md, not here:\n" + "\n".join(wrong)


def test_the_check_sees_figures_in_comments_and_docstrings(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('"""Loads in 2.5 s."""\nX = "2025-06-12"  # 3x faster since 2026-12-03\n', encoding="utf-8")
    assert [f for _, f in figures(_python_text(sample))] == ["3x faster", "2026-12-03", "2.5 s"]
    config = tmp_path / "c.yml"
    config.write_text("a: 1  # peak 4.7 GB\nb: 2\n", encoding="utf-8")
    assert figures(_yaml_comments(config)) == [(1, "4.7 GB")]

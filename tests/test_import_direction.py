"""The package's layers: shared code below, stages above, and no import the wrong way.

Lower layers (``toolcalls``, ``datasets``, ``models``, ``llm`` and the top-level helper modules)
never import ``pipelines``; a stage imports another stage only through that stage's package
(the alias pipelines ``sft_export`` and ``evaluation_base_sft`` reuse their stage's pipeline); and
no module imports another package's private (underscore) names.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "toolace_kedro"
LOWER = ("toolcalls", "datasets", "models", "llm")
LOWER_MODULES = ("stats.py", "tracking.py", "plots.py")
ALIASES = {"sft_export", "evaluation_base_sft"}


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """``(module, imported names, line)`` of every absolute ``toolace_kedro`` import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
    return [f for f in found if f[0].split(".")[0] == "toolace_kedro"]


def _modules(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in ((PACKAGE / part).rglob("*.py") if (PACKAGE / part).is_dir()
                                               else [PACKAGE / part]))


def test_the_layers_exist():
    assert all((PACKAGE / name).is_dir() for name in LOWER) and (PACKAGE / "pipelines").is_dir()


def pipeline_imports(paths: list[Path]) -> list[str]:
    """``"<file>:<line> imports <module>"`` for every import of ``toolace_kedro.pipelines`` in ``paths``."""
    return [f"{p.name}:{line} imports {module}" for p in paths
            for module, _, line in _imports(p) if module.startswith("toolace_kedro.pipelines")]


@pytest.mark.parametrize("layer", [*LOWER, *LOWER_MODULES])
def test_lower_layers_do_not_import_pipelines(layer):
    wrong = pipeline_imports(_modules(layer))
    assert not wrong, "lower layers must not import pipelines:\n" + "\n".join(wrong)


def test_stages_import_each_other_only_through_their_packages():
    wrong = []
    for path in _modules("pipelines"):
        stage = path.relative_to(PACKAGE / "pipelines").parts[0]
        for module, _, line in _imports(path):
            parts = module.split(".")
            if parts[:2] != ["toolace_kedro", "pipelines"] or len(parts) < 3 or parts[2] == stage:
                continue
            if stage in ALIASES and len(parts) == 3:
                continue
            wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert not wrong, "a stage imports another stage's modules (move shared code to a lower layer):\n" + "\n".join(wrong)


def test_no_private_names_across_packages():
    wrong = []
    for path in _modules("."):
        package = ".".join(path.relative_to(PACKAGE).parts[:-1])
        for module, names, line in _imports(path):
            source = ".".join(module.split(".")[1:-1]) if (PACKAGE / Path(*module.split(".")[1:])).with_suffix(
                ".py").exists() else ".".join(module.split(".")[1:])
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and source != package:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {private} from {module}")
    assert not wrong, "private names imported from another package:\n" + "\n".join(wrong)


def test_the_check_finds_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\ndef f():\n    from toolace_kedro.pipelines.sft.training import use_bf16\n",
                   encoding="utf-8")
    good = tmp_path / "good.py"
    good.write_text("from toolace_kedro.models import load_policy\n", encoding="utf-8")
    assert pipeline_imports([bad, good]) == ["bad.py:4 imports toolace_kedro.pipelines.sft.training"]

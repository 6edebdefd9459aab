"""Project pipelines: every package under ``toolace_kedro.pipelines`` with a ``create_pipeline``."""

from __future__ import annotations

import importlib
import pkgutil

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

#: The order of the stages in the default run (those that exist).
STAGES = ("api_synthesis", "dialog_generation", "verification", "sft", "irft", "evaluation")


def built_stages() -> list[str]:
    """Pipeline packages that expose ``create_pipeline``. A stage package that so far holds only
    library modules (its pipeline not wired yet) is left out instead of breaking the registry;
    a package that fails to import still raises."""
    import toolace_kedro.pipelines as root

    names = []
    for info in pkgutil.iter_modules(root.__path__):
        if info.ispkg and hasattr(importlib.import_module(f"{root.__name__}.{info.name}"), "create_pipeline"):
            names.append(info.name)
    return names


def register_pipelines() -> dict[str, Pipeline]:
    """Register each pipeline by its name; ``__default__`` chains the stages that exist."""
    pipelines = find_pipelines(raise_errors=True, pipelines_to_find=built_stages())
    pipelines["__default__"] = sum((pipelines[s] for s in STAGES if s in pipelines), Pipeline([]))
    return pipelines

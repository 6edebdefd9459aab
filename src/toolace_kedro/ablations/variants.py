"""The ablation grid of the papers as named parameter overrides, and the ``kedro run`` of each.

ToolACE (ICLR 2025) ablates the dual-layer verification (no verification 89.59 → rules only
90.47 → both layers 91.41, BFCL non-live) and the data types (without parallel data 59.22 →
50.60 BFCL overall; without non-tool data irrelevance collapses to 6.99); iTool ablates its
easy-to-hard warm-up. Each variant here is one ``kedro run`` of the stages it changes and the
stages after them, with ``--params`` overrides and ``--load-versions`` pinning the shared input,
so every variant starts from the same upstream data:

- verification variants run ``verification → sft → evaluation`` on the same ``dialogs`` version;
- the training variants run ``sft → evaluation`` on the reference variant's ``verified_dialogs``.

Data-type ablations (``no_parallel``, ``no_non_tool``) follow ToolACE: the model is trained
without that subset of the *same* data (``sft.exclude_types``), not on a regenerated mix. The
split is made on the full data first, so the held-out synthetic test set is the reference's, and
still holds the left-out type: what the ablation costs is measured on it.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REFERENCE", "VARIANTS", "Variant", "format_params", "kedro_command", "order_variants", "parse_params",
           "pipelines_of", "select_variants"]


@dataclass(frozen=True)
class Variant:
    """One cell of the grid: ``params`` are dotted ``--params`` overrides."""

    name: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    runs_verification: bool = False  # True: starts from ``dialogs``; False: from the reference's ``verified_dialogs``


#: the configured pipeline (both verification layers as configured, curriculum, every type)
REFERENCE = "rules_and_judges"

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant(REFERENCE, "both verification layers (rules, de-duplication, model judges) as configured; the reference",
            {}, runs_verification=True),
    Variant("rules_only", "rule layer and de-duplication, no model judges",
            {"verification.layers.judges": False}, runs_verification=True),
    Variant("verification_off", "no verification: every generated dialog is trained on",
            {"verification.layers.rules": False, "verification.layers.dedup": False,
             "verification.layers.judges": False}, runs_verification=True),
    Variant("no_curriculum", "iTool's easy-to-hard warm-up off: one shuffled stage",
            {"sft.curriculum": False}),
    Variant("no_parallel", "trained without the parallel-call dialogs (the test set keeps them)",
            {"sft.exclude_types": ["parallel"]}),
    Variant("no_non_tool", "trained without the non-tool dialogs (the test set keeps them)",
            {"sft.exclude_types": ["non_tool"]}),
)}


def select_variants(names: str | Iterable[str] | None) -> list[Variant]:
    """The variants named (comma-separated or a list; ``None`` or ``all``: every one), in grid
    order (:func:`order_variants`). An unknown name is an error that lists the known ones."""
    if names is None or names == "all":
        chosen = list(VARIANTS)
    else:
        chosen = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    unknown = [n for n in chosen if n not in VARIANTS]
    if unknown or not chosen:
        raise ValueError(f"unknown ablation variant(s) {unknown or chosen}; known: {', '.join(VARIANTS)}")
    return order_variants([VARIANTS[n] for n in dict.fromkeys(chosen)])


def order_variants(variants: Sequence[Variant]) -> list[Variant]:
    """The reference first (its ``verified_dialogs`` feed the training variants), then the other
    verification variants, then the training variants; otherwise in the order given."""
    return sorted(variants, key=lambda v: (v.name != REFERENCE, not v.runs_verification))


def pipelines_of(variant: Variant, irft: bool = False) -> list[str]:
    """The registered pipelines a variant runs, in order: verification (when it changes it), sft,
    then ``irft`` + ``evaluation`` (base, sft, irft) or ``evaluation_base_sft``."""
    stages = ["verification"] if variant.runs_verification else []
    return stages + ["sft"] + (["irft", "evaluation"] if irft else ["evaluation_base_sft"])


def _format_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (list, tuple)):
        if len(value) > 1:  # kedro's --params splits on every comma, brackets or not
            raise ValueError(f"--params {key}: a list of more than one item cannot be passed on the command line; "
                             f"write it as 'a+b' where the parameter accepts that (sft.exclude_types does)")
        text = f"[{_format_value(key, value[0])}]" if value else "[]"
    else:
        text = str(value)
    if "," in text:
        raise ValueError(f"--params {key}={text!r}: kedro's --params cannot carry a comma")
    return text


def format_params(params: dict[str, Any]) -> str:
    """Dotted overrides as one ``kedro run --params`` value: ``a.b=1,c=false``."""
    return ",".join(f"{key}={_format_value(key, value)}" for key, value in params.items())


def kedro_command(variant: Variant, *, grid: str, load_versions: dict[str, str], kedro: Sequence[str] = ("kedro",),
                  env: str | None = None, irft: bool = False, sample_size: int | str | None = None,
                  extra_params: dict[str, Any] | None = None) -> list[str]:
    """The ``kedro run`` of one variant. ``extra_params`` (the grid's ``--params``) apply to every
    variant; a variant's own overrides win where they name the same key. The MLflow tags come
    from ``ablation.variant`` and ``ablation.grid`` (``toolace_kedro.hooks.RunTagsHook``)."""
    params: dict[str, Any] = {"ablation.variant": variant.name, "ablation.grid": grid}
    if sample_size is not None:
        params["evaluation.bfcl.sample_size"] = None if sample_size == "all" else int(sample_size)
    params.update(extra_params or {})
    params.update(variant.params)
    command = [*kedro, "run", "--pipelines", ",".join(pipelines_of(variant, irft))]
    if env:
        command += ["--env", env]
    if load_versions:
        command += ["--load-versions", ",".join(f"{name}:{version}" for name, version in load_versions.items())]
    return command + ["--params", format_params(params)]


def parse_params(text: str | None) -> dict[str, Any]:
    """``a.b=1,c=x`` (the grid's ``--params``) → ``{"a.b": 1, "c": "x"}``, values read as YAML
    scalars like kedro does."""
    import yaml

    params: dict[str, Any] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--params item {item!r} is not key=value")
        params[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return params


def shell(command: Sequence[str]) -> str:
    return shlex.join(command)

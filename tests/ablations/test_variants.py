"""The command line of every variant: pipelines, pinned inputs, overrides and tags, read back
through kedro's own ``--params`` parser so what the subprocess gets is what is asserted."""

import pytest
from kedro.framework.cli.utils import _split_load_versions, _split_params

from toolace_kedro.ablations.variants import (
    REFERENCE,
    VARIANTS,
    format_params,
    kedro_command,
    parse_params,
    pipelines_of,
    select_variants,
)
from toolace_kedro.pipelines.sft.config import SFTParams

GRID = "2026-11-22T15.00.00"


def _parsed(command):
    """(pipelines, load versions, runtime params) as `kedro run` reads them."""
    run = command.index("run")
    options = dict(zip(command[run + 1::2], command[run + 2::2]))
    return (options["--pipelines"].split(","), _split_load_versions(None, None, options.get("--load-versions", "")),
            _split_params(None, None, options["--params"]), options.get("--env"))


EXPECTED = {
    "rules_and_judges": ({}, "dialogs"),
    "rules_only": ({"verification": {"layers": {"judges": False}}}, "dialogs"),
    "verification_off": ({"verification": {"layers": {"rules": False, "dedup": False, "judges": False}}}, "dialogs"),
    "no_curriculum": ({"sft": {"curriculum": False}}, "verified_dialogs"),
    "no_parallel": ({"sft": {"exclude_types": ["parallel"]}}, "verified_dialogs"),
    "no_non_tool": ({"sft": {"exclude_types": ["non_tool"]}}, "verified_dialogs"),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_runs_its_stages_on_the_pinned_input_with_its_overrides_and_tags(name):
    overrides, pinned = EXPECTED[name]
    command = kedro_command(VARIANTS[name], grid=GRID, load_versions={pinned: "2026-11-22T00.00.00.000Z"},
                            sample_size=3)
    pipelines, versions, params, env = _parsed(command)
    stages = (["verification"] if pinned == "dialogs" else []) + ["sft", "evaluation_base_sft"]
    assert pipelines == stages and versions == {pinned: "2026-11-22T00.00.00.000Z"} and env is None
    assert params.pop("ablation") == {"variant": name, "grid": GRID}
    assert params.pop("evaluation") == {"bfcl": {"sample_size": 3}}
    assert params == overrides
    if "sft" in overrides:  # the sft stage accepts what the command line carries
        assert SFTParams.of(overrides["sft"]).model_dump(include=set(overrides["sft"])) == overrides["sft"]


def test_irft_env_extra_params_and_variant_precedence():
    variant = VARIANTS["no_curriculum"]
    command = kedro_command(variant, grid=GRID, load_versions={"verified_dialogs": "v1"}, env="paper", irft=True,
                            sample_size="all", extra_params={"sft.curriculum": True, "llm.cache_dir": "/tmp/c"},
                            kedro=["python", "-m", "kedro"])
    assert command[:5] == ["python", "-m", "kedro", "run", "--pipelines"]
    pipelines, versions, params, env = _parsed(command)
    assert pipelines == ["sft", "irft", "evaluation"] and env == "paper"
    assert params["sft"] == {"curriculum": False}  # the variant's own override wins
    assert params["llm"] == {"cache_dir": "/tmp/c"} and params["evaluation"] == {"bfcl": {"sample_size": None}}
    assert pipelines_of(VARIANTS[REFERENCE], irft=True) == ["verification", "sft", "irft", "evaluation"]


def test_selection_order_and_errors():
    assert [v.name for v in select_variants(None)][:3] == [REFERENCE, "rules_only", "verification_off"]
    assert [v.name for v in select_variants("no_parallel, rules_only,no_parallel")] == ["rules_only", "no_parallel"]
    assert [v.name for v in select_variants(["no_curriculum", REFERENCE])] == [REFERENCE, "no_curriculum"]
    with pytest.raises(ValueError, match="unknown ablation variant.*'no_such'.*known: rules_and_judges"):
        select_variants("no_such,rules_only")


def test_params_formatting_round_trips_and_refuses_what_kedro_would_split():
    text = format_params({"a.b": False, "c": None, "d": ["x"], "e": 0.5, "f": "s"})
    assert text == "a.b=false,c=null,d=[x],e=0.5,f=s"
    assert _split_params(None, None, text) == {"a": {"b": False}, "c": None, "d": ["x"], "e": 0.5, "f": "s"}
    assert parse_params(text) == {"a.b": False, "c": None, "d": ["x"], "e": 0.5, "f": "s"}
    with pytest.raises(ValueError, match="more than one item"):
        format_params({"sft.exclude_types": ["parallel", "non_tool"]})
    with pytest.raises(ValueError, match="cannot carry a comma"):
        format_params({"x": "a,b"})
    with pytest.raises(ValueError, match="not key=value"):
        parse_params("a=1,b")

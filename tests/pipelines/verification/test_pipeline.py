"""The whole verification pipeline on an in-memory catalog with a scripted LLM behind the judges."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from tests.pipelines.verification.conftest import clean_samples
from tests.pipelines.verification.test_judges import _judge_of, verdict
from tests.support.config import project_config
from tests.support.fakes import ScriptedLLM
from tests.support.kedro_runs import run_in_memory
from toolace_kedro.pipelines.verification import create_pipeline, nodes
from toolace_kedro.pipelines.verification.config import VerificationParams
from toolace_kedro.pipelines.verification.rules import RULE_IDS, check_sample
from toolace_kedro.toolcalls import DialogSample

ROOT = Path(__file__).resolve().parents[3]
BASE = yaml.safe_load((ROOT / "conf/base/parameters_verification.yml").read_text())["verification"]
# judges on and rejecting (the GPU setting; the CPU default only records them), and requests compared
# across tool sets, so the multi-turn dialog repeating s1's request under more tools is a repeat
REJECTING = {**BASE, "layers": {**BASE["layers"], "judges": True}, "judges": {**BASE["judges"], "reject": True},
             "dedup": {**BASE["dedup"], "scope": "global"}}


def respond(messages, sampling, schema):
    """Fails the consistency of the recipe dialog; the tool-response judge of the clarify dialog
    answers malformed JSON (→ re-asked → unavailable)."""
    name, body = _judge_of(messages), messages[-1]["content"]
    if name == "consistency" and "pasta" in body:
        return verdict("fail", "the recipe ignores the request")
    if name == "tool_response" and "passengers=2" in body:
        return "not json"
    return verdict("pass", f"{name.replace('_', ' ')} fine")  # (words only: the reason pattern)


def _dialogs():
    samples = clean_samples()
    broken = copy.deepcopy(samples["single"])
    broken["id"] = "broken"
    broken["messages"][1]["tool_calls"][0]["arguments"]["cabin"] = "first"
    repeat = copy.deepcopy(samples["non_tool"])
    repeat["id"] = "repeat"
    return [*samples.values(), broken, repeat, "not a dialog"]


@pytest.fixture
def scripted(monkeypatch):
    made = []

    def fake_build_llm(config):
        made.append(config)
        llm = ScriptedLLM(respond, schema_retries=1)
        made.append(llm)
        return llm

    monkeypatch.setattr(nodes, "build_llm", fake_build_llm)
    return made


def _run(params, llm=None):
    return run_in_memory(create_pipeline(), {"dialogs": _dialogs(), "params:verification": params,
                                             "params:llm": llm or {"model": "smollm2-135m-instruct"}})


def test_pipeline_splits_reports_and_plots(scripted):
    catalog = _run(copy.deepcopy(REJECTING), {"model": "smollm2-135m-instruct", "temperature": 0.7})
    verified, rejected = catalog.load("verified_dialogs"), catalog.load("rejected_dialogs")
    assert [d["id"] for d in verified] == ["s1", "p1", "d1", "n1", "c1", "z1"]
    for d in verified:
        DialogSample.model_validate(d)
        assert check_sample(d) == []
    assert verified[0]["meta"]["verification"] == {
        "judges": {"hallucination": "pass", "consistency": "pass", "tool_response": "pass"}, "values_not_found": 0}
    assert verified[4]["meta"]["verification"]["judges"]["tool_response"] == "unavailable"  # on_unavailable: pass
    reasons = {r.get("id", "?"): r["meta"]["rejection"] for r in rejected}
    assert reasons == {
        "m1": {"rules": [], "quality": [], "judges": {}, "dedup": {"reason": "dedup.request", "duplicate_of": "s1", "similarity": 1.0}},
        "broken": {"rules": ["call.value_invalid"], "quality": [], "judges": {}, "dedup": None},
        "repeat": {"rules": [], "quality": [], "judges": {}, "dedup": {"reason": "dedup.request", "duplicate_of": "n1", "similarity": 1.0}},
        "?": {"rules": ["dialog.missing_field"], "quality": [], "judges": {}, "dedup": None},
    }
    assert rejected[-1]["sample"] == "not a dialog"
    # the judge model is params:llm with the judges' overrides, built once, asked in one batch
    assert scripted[0] == {"model": "smollm2-135m-instruct", "temperature": 0.7}

    report = catalog.load("verification_report")
    assert (report["dialogs"], report["verified"], report["rejected"]) == (10, 6, 4)
    assert set(report["rules"]) == set(RULE_IDS) and report["rules"]["call.value_invalid"] == 1
    assert report["rules"]["dialog.missing_field"] == 1 and sum(report["rules"].values()) == 2
    assert report["dedup"] == {"dedup.request": 2, "dedup.answer": 0}
    assert report["judges"]["consistency"] | {"fail_rate": 0} == {
        "enabled": True, "judged": 6, "pass": 6, "fail": 0, "unavailable": 0, "fail_rate": 0, "unavailable_rate": 0.0}
    assert report["judges"]["tool_response"]["unavailable"] == 1
    assert report["layers"]["rules"] | {"seconds": 0} == {"enabled": True, "checked": 10, "passed": 8,
                                                          "pass_rate": 0.8, "seconds": 0}
    assert report["layers"]["judges"]["checked"] == 6 and report["layers"]["judges"]["pass_rate"] == 1.0
    assert report["by_type"]["single"] == {"dialogs": 3, "passed_rules": 2, "passed_dedup": 1, "verified": 1,
                                           "pass_rate": 0.3333, "rules_pass_rate": 0.6667, "judges_pass_rate": 1.0}
    assert report["evidence"]["values_checked"] > 0 and report["evidence"]["values_not_found"] > 0
    metrics = catalog.load("verification_metrics")
    assert metrics["verified"]["value"] == 6 and metrics["rejected.rule.call.value_invalid"]["value"] == 1
    assert metrics["judge.tool_response.unavailable"]["value"] == 1  # counted; on_unavailable: pass
    assert metrics["rejected.judge.tool_response.unavailable"]["value"] == 0
    assert catalog.load("verification_rejections_plot").axes[0].get_title().startswith("Verification rejections")
    json.dumps(report)
    json.dumps(catalog.load("verification_judge_outcomes"))


def test_a_failing_judge_rejects_with_its_reason_and_unavailable_can_fail(scripted):
    params = copy.deepcopy(REJECTING)
    params["layers"]["dedup"] = False  # nothing is a repeat: the multi-turn dialog reaches the judges
    params["judges"]["on_unavailable"] = "fail"
    catalog = _run(params)
    rejected = {r.get("id"): r["meta"]["rejection"] for r in catalog.load("rejected_dialogs")}
    assert rejected["m1"] == {"rules": [], "quality": [], "dedup": None,  # judged request by request: the second fails
                              "judges": {"consistency": "request 2: the recipe ignores the request"}}
    assert rejected["c1"]["judges"] == {"tool_response": "unavailable"}
    report = catalog.load("verification_report")
    assert report["rejections"]["judge.consistency.fail"] == 1 and report["rejections"]["judge.tool_response.unavailable"] == 1

    # the CPU default: the same verdicts are recorded but reject nothing
    params["judges"]["reject"] = False
    catalog = _run(params)
    verified = {d["id"]: d for d in catalog.load("verified_dialogs")}
    assert verified["m1"]["meta"]["verification"]["judges"]["consistency"] == "fail"
    assert verified["c1"]["meta"]["verification"]["judges"]["tool_response"] == "unavailable"
    report = catalog.load("verification_report")
    assert report["judges"]["consistency"]["fail"] == 1 and report["rejections"]["judge.consistency.fail"] == 0
    assert report["layers"]["judges"] | {"seconds": 0} == {
        "enabled": True, "rejects": False, "checked": 8, "passed": 8, "pass_rate": 1.0, "all_judges_pass": 6,
        "all_judges_pass_rate": 0.75, "seconds": 0}
    labels = [t.get_text() for t in catalog.load("verification_rejections_plot").axes[0].get_yticklabels()]
    assert "judge.consistency.fail (recorded only)" in labels


@pytest.mark.parametrize("layers", [{"rules": False, "dedup": False, "judges": False},
                                    {"rules": True, "dedup": False, "judges": False},
                                    {"rules": False, "dedup": True, "judges": True}])
def test_ablation_switches_layers_off(scripted, layers):
    params = {**copy.deepcopy(REJECTING), "layers": layers}
    catalog = _run(params)
    verified = {d["id"] if isinstance(d, dict) else d for d in catalog.load("verified_dialogs")}
    report = catalog.load("verification_report")
    assert {k: v["enabled"] for k, v in report["layers"].items()} == layers
    if not any(layers.values()):
        assert len(verified) == 10 and not scripted  # nothing checked, no model built
    if layers == {"rules": True, "dedup": False, "judges": False}:
        assert verified == {"s1", "p1", "d1", "n1", "c1", "m1", "z1", "repeat"} and not scripted
    if layers["judges"]:  # judges read even the malformed sample without crashing
        outcomes = catalog.load("verification_judge_outcomes")["outcomes"]
        assert outcomes[-1]["judges"]["consistency"]["verdict"] == "unavailable"


def _without_timings(value):
    """``value`` with every timing (``seconds``, ``*_s``, ``*_seconds``, ``*_ms_per_dialog``) set to 0."""
    if isinstance(value, dict):
        return {k: 0 if k == "seconds" or k.endswith(("_s", "_seconds", "_ms_per_dialog")) else _without_timings(v)
                for k, v in value.items()}
    return [_without_timings(v) for v in value] if isinstance(value, list) else value


def test_the_typed_block_gives_what_the_dict_gives(scripted):
    """The nodes take ``VerificationParams`` (what the hook hands them) as well as the raw dict."""
    params = copy.deepcopy(REJECTING)
    params["judges"]["on_unavailable"] = "fail"
    outputs = ["verified_dialogs", "rejected_dialogs", "verification_rule_outcomes", "verification_dedup_outcomes",
               "verification_judge_outcomes", "verification_report", "verification_metrics"]
    runs = [_run(block) for block in (params, VerificationParams.model_validate(params))]
    by_dict, by_model = ({name: _without_timings(c.load(name)) for name in outputs} for c in runs)
    assert by_model == by_dict
    assert by_dict["verification_report"]["judge_settings"]["on_unavailable"] == "fail"
    assert len(by_dict["rejected_dialogs"]) > 4  # the judges rejected some: the typed block reached them


def test_per_judge_switches(scripted):
    params = copy.deepcopy(REJECTING)
    for name in ("hallucination", "tool_response"):
        params["judges"][name]["enabled"] = False
    report = _run(params).load("verification_report")
    assert report["judges"]["hallucination"]["judged"] == 0 and report["judges"]["consistency"]["judged"] == 6


def test_paper_env_asks_for_more_votes():
    params = project_config("paper")["parameters"]
    judges = params["verification"]["judges"]
    assert judges["votes"] >= 3 and judges["temperature"] > 0 and judges["reject"] is True
    base = project_config("base")["parameters"]
    assert base["verification"]["judges"]["votes"] == 1 and base["verification"]["judges"]["reject"] is False


def test_bad_lines_and_non_canonical_records_are_named_by_file_and_line(scripted, tmp_path):
    from toolace_kedro.datasets import JSONLinesDataset

    path = tmp_path / "dialogs.jsonl"
    samples = list(clean_samples().values())[:2]
    lines = [json.dumps(samples[0]), '{"id": "cut", "messages": [', json.dumps({"id": "odd", "messages": "hi"}),
             json.dumps(samples[1])]
    path.write_text("\n".join(lines) + "\n")
    params = {**copy.deepcopy(REJECTING), "layers": {"rules": True, "dedup": True, "judges": False}}
    catalog = run_in_memory(create_pipeline(), {"dialogs": JSONLinesDataset(filepath=str(path)).load(),
                                                "params:verification": params, "params:llm": {}})
    assert [d["id"] for d in catalog.load("verified_dialogs")] == [samples[0]["id"], samples[1]["id"]]
    (odd,) = catalog.load("rejected_dialogs")
    assert odd["id"] == "odd" and "dialog.missing_field" in odd["meta"]["rejection"]["rules"]
    assert catalog.load("verification_rule_outcomes")["outcomes"][1]["at"] == f"{path}:3 (id 'odd')"
    report = catalog.load("verification_report")
    skipped = report["skipped_input"]["dialogs"]
    assert (skipped["source"], skipped["records"], skipped["skipped"]) == (str(path), 4, 1)
    assert skipped["by_reason"] == {"bad_json": 1} and skipped["examples"][0].startswith(f"{path}:2: bad_json: ")
    assert report["not_canonical"] == {"dialogs": 1, "rejected": 1, "examples": [
        f"{path}:3 (id 'odd'): not_canonical: type: Field required (+2 more)"]}
    assert catalog.load("verification_metrics")["skipped_input"]["value"] == 1


def test_an_empty_or_wrong_input_is_a_clear_error():
    from toolace_kedro.datasets import BadInputError

    with pytest.raises(BadInputError, match=r"^dialogs: no usable record \(the input is empty\)$"):
        nodes.apply_rules([], BASE)
    with pytest.raises(BadInputError, match="^dialogs: expected a list of records, got str$"):
        nodes.apply_rules("dialogs.jsonl", BASE)

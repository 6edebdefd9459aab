"""BFCL's format_sensitivity: its data, the return-format decoders, and verdicts compared with the
official runner on generated outputs in every format."""

from __future__ import annotations

import builtins
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.pipelines.evaluation.bfcl_cases import same
from tests.pipelines.evaluation.conftest import AGREEMENT
from tests.pipelines.evaluation.format_cases import format_cases
from toolace_kedro.datasets import BFCLDataset
from toolace_kedro.datasets.bfcl_data import (
    FORMAT_SENSITIVITY_SOURCES,
    SINGLE_TURN_CATEGORIES,
    entry_problem,
    load_format_sensitivity,
    parse_format_sensitivity_id,
)
from toolace_kedro.pipelines.evaluation.bfcl import (
    DecodeError,
    Unevaluated,
    check_output,
    load_category,
)
from toolace_kedro.pipelines.evaluation.bfcl_formats import (
    decode_formatted,
    json_array_span,
)
from toolace_kedro.toolcalls.bfcl_prompt import (
    FORMAT_SENSITIVITY_FORMATS,
    parse_prompt_format,
)

pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence")

#: source entries compared per source category (each in all 26 formats), and the seed
PER_CATEGORY, SEED = 3, 11
BFCL_REGEX = re.compile(r"\[\s*{.*?}\s*(?:,\s*{.*?}\s*)*\]", re.DOTALL)



@pytest.fixture(scope="module")
def items():
    return load_category("format_sensitivity")


# --------------------------------------------------------------------------- data
def test_items_are_every_entry_in_every_format(items):
    assert len(items) == 5200 and len({i["id"] for i in items}) == 5200
    assert [i["format"] for i in items[:26]] == list(FORMAT_SENSITIVITY_FORMATS)
    sources = Counter(i["source_category"] for i in items)
    assert set(sources) == set(FORMAT_SENSITIVITY_SOURCES) and sum(sources.values()) == 200 * 26
    for index, item in enumerate(items):
        assert item["id"] == f"format_sensitivity_{index}:{item['format']}:{item['source_id']}"
        assert parse_format_sensitivity_id(item["id"]) == (item["format"], item["source_id"])
        assert item["category"] == "format_sensitivity" and entry_problem(item) is None
    source = {e["id"]: e for e in load_category("live_multiple")}[items[-1000]["source_id"]]
    assert items[-1000]["function"] == source["function"] and items[-1000]["possible_answer"] == source["possible_answer"]
    bad = {**items[0], "id": "format_sensitivity_0:ret_fmt=yaml:simple_python_1"}
    assert entry_problem(bad).startswith("bfcl.bad_id: ")
    assert BFCLDataset(categories=["format_sensitivity"]).load()["format_sensitivity"] == items


def test_the_default_dataset_holds_it_and_null_categories_leave_it_out(dialog):
    from toolace_kedro.pipelines.evaluation import nodes

    data = BFCLDataset().load()
    assert list(data) == list(SINGLE_TURN_CATEGORIES)
    source = {e["id"]: e for e in data["live_simple"]}[data["format_sensitivity"][-3000]["source_id"]]
    assert data["format_sensitivity"][-3000]["function"] is source["function"]  # shared, not copied
    items, report = nodes.build_items(data, [], {"bfcl": {"categories": None, "sample_size": 1}, "synthetic": False})
    assert len(items) == 13 and "format_sensitivity" not in report["bfcl_sample"]
    contamination = nodes.decontaminate([dialog], data, {})
    assert set(contamination["categories"]) == set(SINGLE_TURN_CATEGORIES) - {"format_sensitivity"}


def _write(root, name, rows):
    root.joinpath(name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_bad_id_files_are_skipped_and_named(tmp_path):
    (tmp_path / "possible_answer").mkdir()
    entry = {"question": [[{"role": "user", "content": "q"}]],
             "function": [{"name": "f", "parameters": {"type": "dict", "properties": {}}}]}
    _write(tmp_path, "BFCL_v4_simple_python.json", [{"id": "simple_python_0", **entry}, {"id": "simple_python_1", **entry}])
    _write(tmp_path / "possible_answer", "BFCL_v4_simple_python.json", [{"id": "simple_python_0", "ground_truth": [{"f": {}}]}])
    ids = tmp_path / "BFCL_v4_format_sensitivity.json"
    ids.write_text('{\n "simple_python": ["simple_python_0", "simple_python_1", "simple_python_9"],\n'
                   ' "simple_rust": ["x"],\n "multiple": "multiple_0",\n "parallel": []\n}\n')
    loaded = load_format_sensitivity(tmp_path)
    assert len(loaded) == 26 and loaded[0]["id"].endswith(":simple_python_0") and loaded.lines == [2] * 26
    assert [(s["at"].rsplit("/", 1)[-1], s["reason"]) for s in loaded.skipped] == [
        ("BFCL_v4_simple_python.json:2", "bfcl.no_possible_answer"),  # the source category's own skip
        ("BFCL_v4_format_sensitivity.json:2", "bfcl.unknown_id"),  # simple_python_1 (skipped there)
        ("BFCL_v4_format_sensitivity.json:2", "bfcl.unknown_id"),  # simple_python_9
        ("BFCL_v4_format_sensitivity.json:3", "bfcl.unknown_category"),
        ("BFCL_v4_format_sensitivity.json:4", "bfcl.bad_ids")]
    with pytest.raises(ValueError, match=r"BFCL_v4_simple_python.json:2: bfcl.no_possible_answer"):
        load_format_sensitivity(tmp_path, on_error="raise")
    ids.write_text('{"simple_rust": ["x"]}')
    with pytest.raises(ValueError, match=r"BFCL_v4_format_sensitivity.json: no usable BFCL entry \(1 skipped"):
        load_format_sensitivity(tmp_path)
    with pytest.raises(ValueError, match=r"format_sensitivity.json:1: bfcl.unknown_category: 'simple_rust'"):
        load_format_sensitivity(tmp_path, on_error="raise")
    for text, message in (("[1]", "expected a JSON object .* got a list"), ("{", "not JSON")):
        ids.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_format_sensitivity(tmp_path)
    ids.unlink()
    with pytest.raises(FileNotFoundError, match="BFCL_v4_format_sensitivity.json"):
        load_format_sensitivity(tmp_path)


# --------------------------------------------------------------------------- decoders, without the reference
def test_the_json_array_scan_is_bfcls_regex():
    rng = random.Random(SEED)
    texts = ["".join(rng.choice("[]{},  x\n") for _ in range(rng.randrange(0, 24))) for _ in range(20000)]
    texts += ['[{"a": [1]}, {"b": {"c": 2}} ] tail [{}]', "[ { } , {x} ]", "[{}, {} x]", "[{}}, {}]"]
    for text in texts:
        match = BFCL_REGEX.search(text)
        assert json_array_span(text) == (match.span() if match else None), text
    long = "[" + '{"function": "f", "parameters": {}}, ' * 5000 + '{"function": "f"'  # exponential for re
    assert json_array_span(long) is None


def test_format_decoding_rules():
    assert decode_formatted('```json\n[{"function": "f", "parameters": {"a": 1}}]\n```', "json", False) == [{"f": {"a": 1}}]
    assert decode_formatted('{"function": "f", "parameters": {"a": 1}}', "json", False) == [{"f": {"a": 1}}]
    assert decode_formatted('<TOOLCALL>{"function": "f", "parameters": {}}</TOOLCALL>', "json", True) == []
    assert decode_formatted("no calls here", "json", False) == []  # JSONDecodeError: no calls
    assert decode_formatted("5", "json", False) == []  # the prepared brackets make it [5]
    assert decode_formatted('[1, "x", {"function": "f", "parameters": 3}]', "json", False) == [{"f": 3}]
    assert decode_formatted("<TOOLCALL>f(a=1), g(b=2)</TOOLCALL>", "python", True) == [{"f": {"a": 1}}, {"g": {"b": 2}}]
    assert decode_formatted("<TOOLCALL>'f(a=1)'</TOOLCALL>", "python", True) == [{"f": {"a": 1}}]
    assert decode_formatted("", "python", False) == []
    xml = ('<functions><function name="f"><params><param name="a" value="[1, (2,)]" type="array"/>'
           '<param name="b" value="TRUE" type="boolean"/><param value="x"/></params></function></functions>')
    assert decode_formatted(f"Sure: {xml}", "verbose_xml", False) == [{"f": {"a": [1, (2,)], "b": True, None: "x"}}]
    concise = '<functions><function name="f"><param name="a" type="float"> 2 </param></function></functions>'
    assert decode_formatted(concise, "concise_xml", False) == [{"f": {"a": 2.0}}]
    for output, ret_fmt, tag in (("<TOOLCALL></TOOLCALL>", "python", True), ("[f(a=1)]", "python", True),
                                 ('[{"function": "f"}]', "json", False), ("<TOOLCALL>5</TOOLCALL>", "json", True),
                                 ('[{"function": "f", "parameters": {"a": ' + "9" * 5000 + "}}]", "json", False),
                                 ("[" * 100000, "json", False), ("<functions>", "verbose_xml", False),
                                 (('<functions><function name="f"><param type="integer">1</param></function>'
                                  "</functions>"), "concise_xml", False),
                                 (xml.replace('"[1, (2,)]"', '"' + "[" * 300 + "]" * 300 + '"'), "verbose_xml", False),
                                 (xml.replace("[1, (2,)]", "{[1]: 2}"), "verbose_xml", False),
                                 (xml.replace("[1, (2,)]", "__import__(&apos;os&apos;)"), "verbose_xml", False)):
        with pytest.raises(DecodeError):
            decode_formatted(output, ret_fmt, tag)
    (call,) = decode_formatted("<TOOLCALL>[f(a=2*3)]</TOOLCALL>", "python", True)
    assert isinstance(call["f"]["a"], Unevaluated)


def test_xml_cannot_declare_entities_and_nothing_is_evaluated(monkeypatch, official_bfcl):
    """A DTD can only precede the root element: inside the extracted ``<functions>`` element it is
    a parse error (in bfcl-eval too), and an undefined entity is one as well."""
    for text in ('<functions><!DOCTYPE f [<!ENTITY x "y">]><function name="&x;"/></functions>',
                 '<!DOCTYPE f [<!ENTITY x "y">]><functions><function name="&x;"/></functions>',
                 '<functions><function name="&x;"/></functions>'):
        with pytest.raises(DecodeError, match="not XML"):
            decode_formatted(text, "verbose_xml", False)
        with pytest.raises(Exception):  # noqa: B017 -- any error: BFCL's runner counts a decode failure
            official_bfcl.decode(text, return_format="verbose_xml")

    def refuse(*args, **kwargs):
        raise AssertionError("eval/exec called on model output")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    assert decode_formatted('<functions><function name="f"><param name="a" type="dict">{"k": (1, 2)}</param>'
                            "</function></functions>", "concise_xml", False) == [{"f": {"a": {"k": (1, 2)}}}]
    for text in (('<functions><function name="f"><param name="a" type="dict">__import__("os")</param>'
                 "</function></functions>"), ('<functions><function name="f"><param name="a" type="array">'
                 "(lambda: 1)()</param></function></functions>")):
        with pytest.raises(DecodeError):
            decode_formatted(text, "concise_xml", False)


def test_check_output_uses_the_format_and_the_source_rule(items):
    item = next(i for i in items if i["source_category"] == "parallel"
                and i["format"].startswith("ret_fmt=json&tool_call_tag=False"))
    answer = item["possible_answer"]
    calls = [{"function": n, "parameters": {p: next(a for a in v if a != "") for p, v in params.items() if v != [""]}}
             for n, params in (next(iter(c.items())) for c in answer)]
    assert check_output("format_sensitivity", item, answer, json.dumps(calls[::-1])) == (True, "ok")  # any order
    assert check_output("format_sensitivity", item, answer, json.dumps(calls[:1]))[1].startswith("wrong_count")
    assert check_output("format_sensitivity", item, answer, '[{"function": "f", "parameters": 1}]')[1].startswith(
        "wrong_format")
    assert check_output("format_sensitivity", item, answer, '[{"function": "f"}]')[1].startswith("decode_failed")
    with pytest.raises(ValueError, match="is malformed: .* not a format-sensitivity id"):
        check_output("format_sensitivity", {**item, "id": "parallel_0"}, answer, "[]")


# --------------------------------------------------------------------------- agreement with bfcl-eval
def _sample(items: list[dict]) -> list[dict]:
    rng = random.Random(SEED)
    by_category: dict[str, list[str]] = {}
    for item in items:
        ids = by_category.setdefault(item["source_category"], [])
        if item["source_id"] not in ids:
            ids.append(item["source_id"])
    chosen = {s for ids in by_category.values() for s in rng.sample(ids, min(PER_CATEGORY, len(ids)))}
    return [i for i in items if i["source_id"] in chosen]


def test_format_verdicts_agree_with_the_official_checker(official_bfcl, items):
    stats, mismatches = Counter(), []
    sample = _sample(items)
    snapshot = json.dumps(sample, sort_keys=True)
    for item in sample:
        fmt = parse_prompt_format(item["format"])
        ret_fmt, tag = fmt["ret_fmt"], fmt["tool_call_tag"]
        key = f"{ret_fmt}{'+tag' if tag else ''}"
        rng = random.Random(f"{SEED}-{item['id']}")
        answer = item["possible_answer"]
        for kind, output in format_cases(item, answer, ret_fmt, tag, rng):
            ours, reason = check_output("format_sensitivity", item, answer, output)
            reference = official_bfcl.format_verdict(item, answer, output)
            stats["outputs[format_sensitivity]"] += 1
            stats[f"outputs[format_sensitivity:{key}]"] += 1
            stats[f"ours_{'pass' if ours else 'fail'}[format_sensitivity]"] += 1
            if reference.valid is None:  # the official checker raised: the leaderboard run would crash
                stats["official_raised[format_sensitivity]"] += 1
                if ours:
                    mismatches.append((item["id"], kind, output, "official raised, ours passed", reason))
                continue
            if reference.used_eval:  # BFCL evaluated arithmetic in a tagged Python answer; we never do
                stats["official_used_eval[format_sensitivity]"] += 1
                opaque = official_bfcl.format_verdict(item, answer, output, evaluate=False)
                if ours != opaque.valid:
                    mismatches.append((item["id"], kind, output, f"official with opaque eval {opaque.valid}", reason))
                continue
            if ours != reference.valid:
                mismatches.append((item["id"], kind, output, f"official {reference.valid}", reason))
            try:
                decoded = decode_formatted(output, ret_fmt, tag)
            except DecodeError:
                decoded = None
            if (decoded is None) != reference.decode_error or (
                    decoded is not None and not same(decoded, reference.decoded)):
                mismatches.append((item["id"], kind, output, f"decoded {reference.decoded!r:.80}", f"{decoded!r:.80}"))
            stats["agree[format_sensitivity]"] += 1
    assert json.dumps(sample, sort_keys=True) == snapshot, "a checker mutated the entries"
    AGREEMENT.update(stats)
    assert not mismatches, f"{len(mismatches)} disagreements, e.g. " + "\n".join(map(repr, mismatches[:8]))
    for key in ("python", "python+tag", "json", "json+tag", "verbose_xml", "verbose_xml+tag", "concise_xml",
                "concise_xml+tag"):
        assert stats[f"outputs[format_sensitivity:{key}]"] > 0
    # both verdicts are exercised
    assert stats["ours_pass[format_sensitivity]"] >= 0.05 * stats["outputs[format_sensitivity]"]
    assert stats["ours_fail[format_sensitivity]"] >= 0.3 * stats["outputs[format_sensitivity]"]


# --------------------------------------------------------------------------- the evaluation's figures
def test_a_run_reports_format_sensitivity_apart(monkeypatch, dialog):
    """Two whole entries (52 items) beside simple_python: a policy right only in the Python and JSON
    formats gives BFCL's spread; format_sensitivity stays out of the groups, overall and bfcl_ast;
    only untagged Python items get the early-stop rule."""
    import statistics

    from tests.pipelines.evaluation.bfcl_cases import instance, render
    from tests.pipelines.evaluation.format_cases import render_json
    from tests.support.fakes import ScriptedLLM
    from tests.support.kedro_runs import run_in_memory
    from toolace_kedro.pipelines.evaluation import create_pipeline, nodes
    from toolace_kedro.pipelines.evaluation.items import bfcl_messages
    from toolace_kedro.pipelines.evaluation.report import aggregate

    categories = ["simple_python", "format_sensitivity"]
    data = BFCLDataset(categories=categories).load()
    params = {"seed": 0, "prompt": "bfcl", "synthetic": False,
              "bfcl": {"categories": categories, "sample_size": {"simple_python": 2, "format_sensitivity": 52}},
              "generation": {"max_tokens": 32, "max_tokens_by_category": {"format_sensitivity": 64}}}
    by_messages = {json.dumps(bfcl_messages(e)): e for c in categories for e in data[c]}

    def right(entry):
        calls = instance(entry["possible_answer"], "first", random.Random(0))
        if entry["category"] != "format_sensitivity":
            return render(calls)
        fmt = parse_prompt_format(entry["format"])
        body = {"python": render(calls), "json": render_json(calls)}.get(fmt["ret_fmt"], "<functions></functions>")
        return f"<TOOLCALL>{body}</TOOLCALL>" if fmt["tool_call_tag"] else body

    seen = []

    def fake_build(config):
        def respond(messages, sampling, schema):
            seen.append((by_messages[json.dumps(messages)], sampling))
            return right(by_messages[json.dumps(messages)]) if config["adapter"] else "I cannot help with that."
        return ScriptedLLM(respond)

    monkeypatch.setattr(nodes, "build_llm", fake_build)
    catalog = run_in_memory(create_pipeline(policies=("base", "sft")), {
        "bfcl_data": data, "bfcl_multi_turn_data": {}, "sft_test": [], "sft_train": [dialog],
        "sft_adapter": "adapter-dir", "params:sft.policy_model": "base-model", "params:llm": {"progress": False},
        "params:evaluation": params})
    items = [i for i in catalog.load("evaluation_items") if i["category"] == "format_sensitivity"]
    assert len(items) == 52 and len({i["entry"]["source_id"] for i in items}) == 2  # two whole entries
    # the early-stop rule only where BFCL reads a bare Python call list
    for entry, sampling in seen:
        if entry["category"] == "format_sensitivity":
            untagged_python = entry["format"].startswith("ret_fmt=python&tool_call_tag=False")
            assert ("stop_when" in sampling) == untagged_python and sampling["max_tokens"] == 64
    never = {p["id"]: "never_calls" in p for p in catalog.load("predictions_sft")}
    assert sum(never[i["id"]] for i in items) == 2 * 5  # python untagged: 3 documents, markdown, experimental
    scores = catalog.load("evaluation_scores")
    sft, base = scores["models"]["sft"], scores["models"]["base"]
    fs = sft["bfcl"]["format_sensitivity"]
    assert (fs["n"], fs["correct"]) == (52, 2 * 14) and len(fs["by_format"]) == 26
    assert list(fs["by_format"]) == list(FORMAT_SENSITIVITY_FORMATS)
    accuracies = [c["accuracy"] for c in fs["by_format"].values()]
    assert sorted(set(accuracies)) == [0.0, 1.0] and accuracies.count(1.0) == 14
    assert fs["max_delta"] == 100.0 and fs["std"] == round(statistics.stdev(accuracies) * 100, 2) == 50.84
    assert (base["bfcl"]["format_sensitivity"]["max_delta"], base["bfcl"]["format_sensitivity"]["std"]) == (0.0, 0.0)
    assert all(v["format"] in FORMAT_SENSITIVITY_FORMATS for v in sft["verdicts"] if v["category"] == "format_sensitivity")
    # non-scoring: the same groups and overall as without it, bfcl_ast without its items
    without = {c: s for c, s in sft["bfcl"].items() if c != "format_sensitivity"}
    assert sft["aggregates"] == aggregate(without) and sft["aggregates"]["overall"] == 1.0
    assert sft["groups"]["overall"]["n"] == 2
    pairs = scores["comparisons"]["sft_vs_base"]
    assert pairs["bfcl_ast"]["n"] == 2 and (pairs["format_sensitivity"]["n"], pairs["format_sensitivity"]["gained"]) == (
        52, 28)
    report = catalog.load("evaluation_report")
    assert "## BFCL format sensitivity" in report and "| max delta (points) |  | 0.0 | 100.0 |" in report
    assert "| std (points) |  | 0.0 | 50.84 |" in report
    assert "| json +tag, doc xml | 2 | 0/2 = 0.0 % [0.0–65.8] | 2/2 = 100.0 % [34.2–100.0] |" in report
    assert "| python, doc json, markdown | 2 |" in report and "| all formats | 52 |" in report
    assert "Run but not in overall: format_sensitivity" in report
    assert "; format_sensitivity items: BFCL's prompt in the format each one names." in report
    assert "not in overall: simple_java" in report and "memory." in report  # format_sensitivity not among them
    metrics = catalog.load("evaluation_metrics")
    assert metrics["sft.bfcl.format_sensitivity"]["value"] == pytest.approx(28 / 52)
    assert metrics["sft.bfcl.format_sensitivity.max_delta"]["value"] == 100.0
    assert metrics["sft.bfcl.format_sensitivity.std"]["value"] == 50.84
    assert "format_sensitivity" not in catalog.load("decontamination_report")["categories"]


def test_format_sensitivity_is_named_to_run():
    """null categories are the thirteen scored ones; conf/paper and conf/gpu name format_sensitivity,
    the CPU default does not (and its report names it as not run)."""
    import yaml

    from toolace_kedro.datasets.bfcl_data import CATEGORIES
    from toolace_kedro.pipelines.evaluation.config import EvaluationParams
    from toolace_kedro.pipelines.evaluation.report import not_run

    assert EvaluationParams.of({}).bfcl.categories is None and "format_sensitivity" not in CATEGORIES  # (null: these)
    conf = Path(__file__).resolve().parents[3] / "conf"
    for env, runs in (("base", False), ("paper", True), ("gpu", True)):
        block = yaml.safe_load((conf / env / "parameters_evaluation.yml").read_text())["evaluation"]
        assert ("format_sensitivity" in (block["bfcl"]["categories"] or [])) == runs, env
        if runs:
            assert set(block["bfcl"]["categories"]) == set(SINGLE_TURN_CATEGORIES) and block["bfcl"]["sample_size"] is None
    assert not_run(["simple_python"])[-1] == "format_sensitivity"
    with pytest.raises(ValueError, match="asks format_sensitivity.* needs evaluation.prompt: bfcl, not 'training'"):
        EvaluationParams.of({"prompt": "training", "bfcl": {"categories": ["format_sensitivity"]}})
    EvaluationParams.of({"bfcl": {"categories": ["format_sensitivity"], "sample_size": {"format_sensitivity": 2}},
                         "generation": {"max_tokens_by_category": {"format_sensitivity": 8}}})

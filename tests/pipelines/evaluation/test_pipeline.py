"""The evaluation pipeline on an in-memory catalog: three scripted "policies" whose answers are
known (the BFCL ground truth, nothing, a call to every prompt), so the report's numbers are
checked, not just produced; one run of the real embedded model on a few items."""

import json

import pytest

import toolace_kedro.pipelines.evaluation.nodes as nodes
from tests.support.fakes import ScriptedLLM
from tests.support.kedro_runs import run_in_memory
from toolace_kedro.datasets import BFCLDataset
from toolace_kedro.pipelines.evaluation import create_pipeline
from toolace_kedro.pipelines.evaluation.items import bfcl_messages
from toolace_kedro.pipelines.evaluation.report import aggregate
from toolace_kedro.toolcalls import render_calls

PARAMS = {"seed": 0, "prompt": "bfcl",
          "bfcl": {"categories": ["simple_python", "parallel", "irrelevance", "live_relevance"], "sample_size": 3},
          "synthetic": True, "call_format": "python", "generation": {"max_tokens": 32, "batch_size": 4},
          "decontamination": {"n": 8, "threshold": 0.5}}


@pytest.fixture(scope="module")
def bfcl_data():
    return BFCLDataset(categories=PARAMS["bfcl"]["categories"]).load()


def _ground_truth_text(entry):
    """The first allowed value of every parameter of the possible answer, as BFCL prompt-mode text."""
    calls = []
    for expected in entry["possible_answer"]:
        name, allowed = next(iter(expected.items()))
        calls.append({"name": name, "arguments": {k: v[0] for k, v in allowed.items() if v and v[0] != ""}})
    return render_calls(calls)


def _policies(bfcl_data, dialog):
    """model name -> answer function: "oracle" answers BFCL and the synthetic item right,
    "silent" never calls, "caller" always calls the first function shown."""
    by_prompt = {}
    for entries in bfcl_data.values():
        for e in entries:
            by_prompt[bfcl_messages(e)[-1]["content"]] = e
    first_call = render_calls(dialog["messages"][1]["tool_calls"])

    def oracle(messages, sampling, schema):
        entry = by_prompt.get(messages[-1]["content"])
        if entry is None:  # the synthetic dialog
            return first_call
        return "" if entry["possible_answer"] is None and "irrelevance" in entry["category"] else (
            _ground_truth_text(entry) if entry["possible_answer"] else "[f(x=1)]")

    return {"oracle": oracle, "silent": lambda m, s, x: "I cannot help with that.",
            "caller": lambda m, s, x: "[some_function(a=1)]"}


def test_pipeline_scores_known_policies(monkeypatch, bfcl_data, dialog):
    answers = _policies(bfcl_data, dialog)
    chosen = {"base-model": "silent", "adapter-dir": "oracle", "irft-dir": "caller"}

    def fake_build(config):
        assert config["temperature"] == 0.0 and config["max_tokens"] == 32
        key = config["adapter"] or config["model"]
        return ScriptedLLM(answers[chosen[key]])

    monkeypatch.setattr(nodes, "build_llm", fake_build)
    catalog = run_in_memory(create_pipeline(), {
        "bfcl_data": bfcl_data, "bfcl_multi_turn_data": {}, "sft_test": [dialog], "sft_train": [dialog], "sft_adapter": "adapter-dir",
        "irft_policy": "irft-dir", "params:sft.policy_model": "base-model", "params:llm": {"progress": False},
        "params:evaluation": PARAMS})
    scores = catalog.load("evaluation_scores")
    assert scores["subset"] and list(scores["models"]) == ["base", "sft", "irft"]
    sft, base, irft = (scores["models"][m] for m in ("sft", "base", "irft"))
    assert {c: s["n"] for c, s in sft["bfcl"].items()} == {c: 3 for c in PARAMS["bfcl"]["categories"]}
    # the oracle passes every AST item and abstains on irrelevance; it "calls" on relevance
    assert all(s["accuracy"] == 1.0 for s in sft["bfcl"].values()), sft["bfcl"]
    assert sft["synthetic"]["overall"]["exact_call_accuracy"] == 1.0
    # the silent policy fails every AST and relevance item, passes irrelevance
    assert base["bfcl"]["irrelevance"]["accuracy"] == 1.0 and base["bfcl"]["simple_python"]["accuracy"] == 0.0
    assert base["bfcl"]["live_relevance"]["accuracy"] == 0.0
    assert base["synthetic"]["overall"]["exact_call_accuracy"] == 0.0
    # the always-calling policy passes relevance only
    assert irft["bfcl"]["live_relevance"]["accuracy"] == 1.0 and irft["bfcl"]["irrelevance"]["accuracy"] == 0.0
    assert irft["bfcl"]["parallel"]["failures"] == {"wrong_count": 3}
    # per-item verdicts, intervals, pooled groups
    assert [v["id"] for v in sft["verdicts"]] == [i["id"] for i in catalog.load("evaluation_items")]
    assert irft["verdicts"][3]["category"] == "parallel" and not irft["verdicts"][3]["correct"]
    assert irft["verdicts"][3]["reason"].startswith("wrong_count: 1 call(s) for")
    assert sft["verdicts"][-1] == {"id": "d1", "source": "synthetic", "category": "single", "kind": "call",
                                   "correct": True, "reason": None}
    assert base["bfcl"]["simple_python"]["ci_high"] == pytest.approx(0.5615, abs=1e-4)
    assert base["groups"]["irrelevance"] == {"categories": ["irrelevance"], "n": 3, "correct": 3, "accuracy": 1.0,
                                             "ci_low": pytest.approx(0.4385, abs=1e-4), "ci_high": 1.0}
    assert base["synthetic"]["intervals"]["exact_call_accuracy"]["n"] == 1
    # paired comparisons on the same items: the oracle (sft) gains every AST item over silence (base)
    assert list(scores["comparisons"]) == ["sft_vs_base", "irft_vs_sft", "irft_vs_base"]
    ast = scores["comparisons"]["sft_vs_base"]["bfcl_ast"]
    assert (ast["n"], ast["gained"], ast["lost"], ast["verdict"]) == (6, 6, 0, "better")
    assert ast["p_value"] == pytest.approx(2 / 2 ** 6)
    assert scores["comparisons"]["irft_vs_sft"]["irrelevance"]["lost"] == 3
    assert scores["prompt"]["name"] == "bfcl" and scores["bfcl_sample"]["parallel"] == {"items": 3, "available": 200}
    report = catalog.load("evaluation_report")
    assert "seeded subset: 3 items per category" in report
    assert ("| simple_python | 3 | 0/3 = 0.0 % [0.0–56.1] | 3/3 = 100.0 % [43.9–100.0] | 0/3 = 0.0 % [0.0–56.1] |"
            in report)
    assert "| sft vs base | BFCL AST items (pooled) | 6 | 0 | 6 | 6 | 0 | 0.0312 | better |" in report
    assert "BFCL prompt: BFCL's default prompt-mode system prompt (`ret_fmt=python&tool_call_tag=False" in report
    assert "<table>" in catalog.load("evaluation_report_html")
    metrics = catalog.load("evaluation_metrics")
    assert metrics["sft.bfcl.non_live"]["value"] == 1.0 and metrics["base.bfcl.irrelevance"]["value"] == 1.0
    assert metrics["base.bfcl.simple_python.n"]["value"] == 3
    assert metrics["base.bfcl.simple_python.ci_high"]["value"] == pytest.approx(0.5615, abs=1e-4)
    assert metrics["compare.sft_vs_base.bfcl_ast.p_value"]["value"] == pytest.approx(2 / 2 ** 6)
    assert metrics["compare.irft_vs_base.simple_python.p_value"]["value"] == 1.0
    predictions = catalog.load("predictions_sft")
    assert len(predictions) == 4 * 3 + 1 and {p["source"] for p in predictions} == {"bfcl", "synthetic"}
    # the per-item table (an MLflow table of the run): every item of every policy, output beside verdict
    table = catalog.load("evaluation_predictions")
    assert len(table) == 3 * len(predictions) and [r["policy"] for r in table[::len(predictions)]] == ["base", "sft",
                                                                                                      "irft"]
    row = table[2 * len(predictions) + 3]
    assert set(row) == {"id", "source", "category", "policy", "output", "correct", "reason"}
    assert (row["policy"], row["category"], row["correct"]) == ("irft", "parallel", False)
    assert row["reason"].startswith("wrong_count") and row["output"] == catalog.load("predictions_irft")[3]["output"]
    contamination = catalog.load("decontamination_report")
    assert set(contamination["categories"]) == set(PARAMS["bfcl"]["categories"])
    assert scores["skipped_input"]["sft_test"]["skipped"] == 0 and "Input records skipped" not in report
    assert contamination["skipped_input"]["sft_train"]["kept"] == 1


def test_a_pipeline_of_fewer_policies_needs_no_irft_policy(monkeypatch, bfcl_data, dialog):
    """``evaluation_base_sft`` (the ablation grid's evaluation): base and sft only, same report."""
    answers = _policies(bfcl_data, dialog)
    monkeypatch.setattr(nodes, "build_llm", lambda config: ScriptedLLM(
        answers["oracle" if config["adapter"] else "silent"]))
    pipeline = create_pipeline(policies=("sft", "base"))
    assert "irft_policy" not in pipeline.inputs() and "predict_irft" not in {n.name for n in pipeline.nodes}
    catalog = run_in_memory(pipeline, {
        "bfcl_data": bfcl_data, "bfcl_multi_turn_data": {}, "sft_test": [dialog], "sft_train": [dialog], "sft_adapter": "adapter-dir",
        "params:sft.policy_model": "base-model", "params:llm": {"progress": False}, "params:evaluation": PARAMS})
    scores = catalog.load("evaluation_scores")
    assert list(scores["models"]) == ["base", "sft"]  # report order, whatever order they were asked in
    assert scores["models"]["sft"]["aggregates"]["non_live"] == 1.0
    assert scores["models"]["base"]["synthetic"]["overall"]["exact_call_accuracy"] == 0.0
    assert "| simple_python | 3 | 0/3 = 0.0 % [0.0–56.1] | 3/3 = 100.0 % [43.9–100.0] |" in catalog.load(
        "evaluation_report")
    assert list(scores["comparisons"]) == ["sft_vs_base"]
    assert {r["policy"] for r in catalog.load("evaluation_predictions")} == {"base", "sft"}
    metrics = catalog.load("evaluation_metrics")
    assert set(metrics) >= {"base.bfcl.overall", "sft.bfcl.overall", "compare.sft_vs_base.simple_python.p_value"}
    assert not any(k.startswith("compare.irft") for k in metrics)
    with pytest.raises(ValueError, match="non-empty subset"):
        create_pipeline(policies=("sft", "dpo"))
    with pytest.raises(ValueError, match="predictions_<policy>"):
        nodes.evaluate_policies([], PARAMS, None, predictions_dpo=[])


def test_the_nodes_take_the_typed_parameters(monkeypatch, bfcl_data, dialog):
    """The nodes give the same scores and reports from ``EvaluationParams`` (and a typed ``llm``
    block) as from the plain dicts."""
    from toolace_kedro.llm.base import LLMConfig
    from toolace_kedro.pipelines.evaluation.config import EvaluationParams

    answers = _policies(bfcl_data, dialog)
    seen = []

    def fake_build(config):
        seen.append((config["max_tokens"], config["batch_size"], config["schema_retries"]))
        return ScriptedLLM(answers["oracle" if config["adapter"] else "caller"])

    monkeypatch.setattr(nodes, "build_llm", fake_build)
    outputs = []
    for params, llm in ((PARAMS, {"progress": False}),
                        (EvaluationParams.model_validate(PARAMS), LLMConfig(progress=False))):
        catalog = run_in_memory(create_pipeline(policies=("base", "sft")), {
            "bfcl_data": bfcl_data, "bfcl_multi_turn_data": {}, "sft_test": [dialog], "sft_train": [dialog], "sft_adapter": "adapter-dir",
            "params:sft.policy_model": "base-model", "params:llm": llm, "params:evaluation": params})
        outputs.append([catalog.load(name) for name in ("evaluation_items", "evaluation_scores",
                                                          "evaluation_report", "decontamination_report")])
    assert outputs[0] == outputs[1]
    assert outputs[1][1]["models"]["sft"]["aggregates"]["non_live"] == 1.0
    assert seen == [(32, 4, 0)] * 4


def test_aggregates_follow_bfcl_groups():
    bfcl = {"simple_python": {"n": 4, "correct": 2, "accuracy": 0.5}, "multiple": {"n": 2, "correct": 2, "accuracy": 1.0},
            "live_simple": {"n": 3, "correct": 3, "accuracy": 1.0}, "live_multiple": {"n": 1, "correct": 0, "accuracy": 0.0},
            "irrelevance": {"n": 2, "correct": 1, "accuracy": 0.5}}
    groups = aggregate(bfcl)
    assert groups["non_live"] == 0.75  # unweighted mean of the non-live categories run
    assert groups["live"] == 0.75      # 3 of 4 live items
    assert groups["relevance"] is None and groups["irrelevance"] == 0.5
    assert groups["overall"] == pytest.approx((0.75 + 0.75 + 0.5) / 3)
    # BFCL's non-live simple is the mean of the three languages' simple categories, then one of four
    bfcl |= {"simple_java": {"n": 10, "correct": 0, "accuracy": 0.0}, "parallel": {"n": 1, "correct": 0, "accuracy": 0.0}}
    assert aggregate(bfcl)["non_live"] == pytest.approx(((0.5 + 0.0) / 2 + 1.0 + 0.0) / 3)


def test_items_reject_an_unknown_category(bfcl_data):
    with pytest.raises(ValueError, match="live_simple"):
        nodes.build_items(bfcl_data, [], {**PARAMS, "bfcl": {"categories": ["live_simple"], "sample_size": 1}})


@pytest.mark.slow
def test_embedded_model_predictions_are_scored(bfcl_data, dialog, tmp_path):
    """The real 135M model answers a few BFCL items in prompt mode; every output is scored."""
    params = {**PARAMS, "bfcl": {"categories": ["simple_python", "irrelevance"], "sample_size": 2}}
    items, _ = nodes.build_items(bfcl_data, [dialog], params)
    predictions = nodes.predict_base(items, "smollm2-135m-instruct", {"progress": False, "cache_dir": None}, params)
    scores = nodes.score_model(items, predictions)
    assert {c: s["n"] for c, s in scores["bfcl"].items()} == {"simple_python": 2, "irrelevance": 2}
    assert all(isinstance(p["output"], str) for p in predictions) and any(p["output"] for p in predictions)
    assert scores["synthetic"]["overall"]["dialogs"] == 1


def _bfcl_files(tmp_path, bfcl_data):
    """A copy of two categories' files with a corrupted line and malformed entries added."""
    from toolace_kedro.pipelines.evaluation.bfcl import bfcl_data_dir

    root = bfcl_data_dir()
    (tmp_path / "possible_answer").mkdir()
    for name in ("BFCL_v4_simple_python.json", "possible_answer/BFCL_v4_simple_python.json",
                 "BFCL_v4_irrelevance.json"):
        lines = (root / name).read_text().splitlines()[:3]
        if name == "BFCL_v4_simple_python.json":
            first = json.loads(lines[0])
            lines += ['{"id": "cut", "question": [[{"role": "user", "content": "hi',
                      json.dumps({**first, "id": "no_answer"}),
                      json.dumps({**first, "id": "bad_q", "question": "What is 2 + 2?"})]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    return tmp_path


def test_malformed_bfcl_entries_and_test_dialogs_are_skipped_and_counted(tmp_path, bfcl_data, dialog, monkeypatch):
    from toolace_kedro.datasets import BFCLDataset

    root = _bfcl_files(tmp_path, bfcl_data)
    data = BFCLDataset(categories=["simple_python", "irrelevance"], data_dir=str(root)).load()
    assert [len(data[c]) for c in ("simple_python", "irrelevance")] == [3, 3]
    params = {**PARAMS, "bfcl": {"categories": ["simple_python", "irrelevance"], "sample_size": None}}
    items, report = nodes.build_items(data, [dialog, {"id": "odd", "messages": []}], params)
    assert len(items) == 3 + 3 + 1
    source = str(root / "BFCL_v4_simple_python.json")
    block = report["skipped_input"]["bfcl_data[simple_python]"]
    assert (block["source"], block["records"], block["kept"]) == (source, 6, 3)
    assert block["by_reason"] == {"bad_json": 1, "bfcl.no_possible_answer": 1, "bfcl.bad_question": 1}
    assert block["examples"][1:] == [f"{source}:5: bfcl.no_possible_answer: no ground_truth list of "
                                     "{function: arguments} for no_answer",
                                     f"{source}:6: bfcl.bad_question: question must be a list of turns, each a "
                                     "list of {role, content} messages"]
    assert report["skipped_input"]["sft_test"]["examples"] == ["sft_test[1] (id 'odd'): not_canonical: type: "
                                                               "Field required (+2 more)"]
    monkeypatch.setattr(nodes, "log_model_runs", lambda scores: None)
    predictions = [{"id": i["id"], "source": i["source"], "category": i["category"], "output": ""} for i in items]
    scores, markdown, *_ = nodes.evaluate(items, predictions, predictions, predictions, params, report)
    assert scores["skipped_input"] == report["skipped_input"]
    assert "Input records skipped, not scored" in markdown and "bfcl_data[simple_python]: 3" in markdown


def test_a_category_without_usable_entries_is_a_clear_error(tmp_path):
    from kedro.io import DatasetError

    from toolace_kedro.datasets import BFCLDataset

    (tmp_path / "BFCL_v4_irrelevance.json").write_text('{"id": "x", "question": "q", "function": []}\n')
    with pytest.raises(DatasetError, match=r"BFCL_v4_irrelevance.json: no usable BFCL entry \(1 skipped; first: "
                                           r".*BFCL_v4_irrelevance.json:1: bfcl.bad_question\)"):
        BFCLDataset(categories=["irrelevance"], data_dir=str(tmp_path)).load()
    (tmp_path / "BFCL_v4_irrelevance.json").write_text('{"id": "x", "question": [], "function": []}\n[1]\n')
    with pytest.raises(DatasetError, match=r"bad JSON line .*BFCL_v4_irrelevance.json:2"):
        BFCLDataset(categories=["irrelevance"], data_dir=str(tmp_path), on_error="raise").load()


def test_per_category_sizes_and_the_training_prompt(bfcl_data, dialog, monkeypatch):
    """A mapping of sizes (0 leaves a category out of the items), the sft stage's prompt named in
    the report, a synthetic-only evaluation still reported."""
    from toolace_kedro.toolcalls import system_prompt

    monkeypatch.setattr(nodes, "log_model_runs", lambda scores: None)
    params = {**PARAMS, "prompt": "training",
              "bfcl": {**PARAMS["bfcl"], "sample_size": {"simple_python": 2, "irrelevance": 0, "default": 1}}}
    items, report = nodes.build_items(bfcl_data, [dialog], params)
    assert [i["category"] for i in items] == ["simple_python"] * 2 + ["parallel", "live_relevance", "single"]
    assert report["bfcl_sample"]["irrelevance"] == {"items": 0, "available": 240}
    first = items[0]
    assert first["prompt"] == "training" and first["messages"][0]["content"].startswith(
        system_prompt(first["entry"]["function"], "python"))
    silent = [{"id": i["id"], "source": i["source"], "category": i["category"], "output": "no"} for i in items]
    scores, markdown, *_ = nodes.evaluate_policies(items, params, report, predictions_base=silent,
                                                   predictions_sft=silent)
    assert scores["comparisons"]["sft_vs_base"]["bfcl_ast"]["verdict"] == "no significant difference"
    assert "BFCL prompt: the sft stage's training prompt" in markdown
    assert "simple_python 2 of 400" in markdown and "irrelevance 0 of 240" in markdown
    none = {**params, "bfcl": {**params["bfcl"], "sample_size": 0}}
    items, report = nodes.build_items(bfcl_data, [dialog], none)
    scores, markdown, *_ = nodes.evaluate_policies(items, none, report, predictions_base=silent[-1:])
    assert scores["prompt"] == {"name": [], "description": None} and "BFCL prompt" not in markdown


def test_multi_turn_entries_are_asked_scored_and_reported(monkeypatch, bfcl_data, dialog):
    """``multi_turn.categories``: each policy works through a seeded subset of the entries on the
    simulated backends; one replays the ground truth (every entry right), one never calls (every
    entry wrong); the report has the categories, the multi_turn group and the paired comparison."""
    from tests.pipelines.evaluation.test_multi_turn_policy import GroundTruthPolicy
    from toolace_kedro.datasets import BFCLMultiTurnDataset

    multi = BFCLMultiTurnDataset(categories=["multi_turn_base", "multi_turn_miss_func"]).load()
    params = {**PARAMS, "bfcl": {"categories": ["simple_python"], "sample_size": 2}, "synthetic": False,
              "multi_turn": {"categories": ["multi_turn_base", "multi_turn_miss_func"], "sample_size": 2,
                             "max_tokens": 48}}
    entries = [e for c in multi for e in nodes.seeded_subset(multi[c], 2, 0, c)]
    truth = GroundTruthPolicy(entries)

    def replay(messages, sampling, schema):  # the multi-turn entries' ground truth; prose elsewhere
        first = next(m["content"] for m in messages if m["role"] == "user")
        return truth(messages, sampling, schema) if first in truth.by_first else "I cannot help with that."

    seen = []

    def fake_build(config):
        seen.append(config["max_tokens"])
        return ScriptedLLM(replay if config["adapter"] else (lambda m, s, x: "I cannot help with that."))

    monkeypatch.setattr(nodes, "build_llm", fake_build)
    catalog = run_in_memory(create_pipeline(policies=("base", "sft")), {
        "bfcl_data": bfcl_data, "bfcl_multi_turn_data": multi, "sft_test": [dialog], "sft_train": [dialog],
        "sft_adapter": "adapter-dir", "params:sft.policy_model": "base-model", "params:llm": {"progress": False},
        "params:evaluation": params})
    items = catalog.load("evaluation_items")
    assert [i["category"] for i in items if i["source"] == "bfcl_multi_turn"] == ["multi_turn_base"] * 2 + [
        "multi_turn_miss_func"] * 2
    trajectory = next(p for p in catalog.load("predictions_sft") if p["source"] == "bfcl_multi_turn")["output"]
    assert isinstance(trajectory, list) and all(isinstance(turn, list) for turn in trajectory)
    scores = catalog.load("evaluation_scores")
    sft, base = scores["models"]["sft"], scores["models"]["base"]
    assert sft["bfcl"]["multi_turn_base"]["correct"] == 2 and sft["bfcl"]["multi_turn_miss_func"]["correct"] == 2
    assert base["bfcl"]["multi_turn_base"]["correct"] == 0
    assert set(base["bfcl"]["multi_turn_base"]["failures"]) <= {"empty_turn_model_response", "state_mismatch",
                                                                 "execution_response_mismatch"}
    assert sft["aggregates"]["multi_turn"] == 1.0 and base["aggregates"]["multi_turn"] == 0.0
    assert sft["groups"]["multi_turn"]["n"] == 4
    mt = scores["comparisons"]["sft_vs_base"]["bfcl_multi_turn"]
    assert (mt["n"], mt["gained"], mt["lost"]) == (4, 4, 0)
    report = catalog.load("evaluation_report")
    assert "| multi_turn_base | 2 | 0/2 = 0.0 % [0.0–65.8] | 2/2 = 100.0 % [34.2–100.0] |" in report
    assert "| multi_turn | 4 |" in report and "BFCL multi-turn entries (pooled)" in report
    assert "Not run, so not in overall: simple_java" in report and "multi_turn_long_context" in report
    rows = [r for r in catalog.load("evaluation_predictions") if r["source"] == "bfcl_multi_turn"]
    assert len(rows) == 8 and all(isinstance(r["output"], str) for r in rows)
    assert set(seen) == {32}  # (the single-turn max_tokens; each multi-turn step asks for its own 48)


@pytest.mark.parametrize("early_stop", [True, False])
def test_multi_turn_early_stop_asks_the_stop_rule_and_says_so(monkeypatch, bfcl_data, dialog, early_stop):
    """``multi_turn.early_stop``: every step request carries the ``python_calls`` stop rule and the
    report says that later turns saw cut answers; without it, whole answers and no such note."""
    from toolace_kedro.datasets import BFCLMultiTurnDataset

    multi = BFCLMultiTurnDataset(categories=["multi_turn_base"]).load()
    params = {**PARAMS, "bfcl": {"categories": ["simple_python"], "sample_size": 1}, "synthetic": False,
              "multi_turn": {"categories": ["multi_turn_base"], "sample_size": 1, "max_tokens": 48,
                             "early_stop": early_stop}}
    step_rules = []

    def prose(messages, sampling, schema):
        if sampling.get("max_tokens") == 48:  # a multi-turn step (the single-turn items ask for 32)
            step_rules.append(sampling.get("stop_when"))
        return "I cannot help with that."

    monkeypatch.setattr(nodes, "build_llm", lambda config: ScriptedLLM(prose))
    catalog = run_in_memory(create_pipeline(policies=("base",)), {
        "bfcl_data": bfcl_data, "bfcl_multi_turn_data": multi, "sft_test": [dialog], "sft_train": [dialog],
        "params:sft.policy_model": "base-model", "params:llm": {"progress": False}, "params:evaluation": params})
    turns = len(nodes.seeded_subset(multi["multi_turn_base"], 1, 0, "multi_turn_base")[0]["question"])
    assert step_rules == [("python_calls" if early_stop else None)] * turns  # one prose step per turn
    report = catalog.load("evaluation_report")
    assert "BFCL multi-turn: each step answered in at most 48 tokens" in report
    assert "after more than 20 (BFCL's limit) executed steps" in report
    assert ("`multi_turn.early_stop`" in report) == early_stop
    assert catalog.load("evaluation_scores")["multi_turn"] == {"max_steps": None, "max_tokens": 48,
                                                                "early_stop": early_stop}

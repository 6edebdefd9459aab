import json
from collections import Counter

import pytest

from tests.pipelines.dialog_generation.conftest import scripted_dialog_answer
from tests.support.fakes import ScriptedLLM
from toolace_kedro.llm.base import Completion
from toolace_kedro.pipelines.dialog_generation import agents, nodes
from toolace_kedro.pipelines.dialog_generation.complexity import bounds, direction
from toolace_kedro.pipelines.dialog_generation.config import DialogGenerationParams
from toolace_kedro.pipelines.dialog_generation.consistency import decision_key, vote
from toolace_kedro.pipelines.dialog_generation.engine import run_dialogs, to_sample
from toolace_kedro.pipelines.dialog_generation.sampling import plan_dialogs
from toolace_kedro.toolcalls import DialogSample, check_arguments, from_toolace, from_trl, to_toolace, to_trl


def test_plans_cover_types_targets_and_distractors(api_pool, dialog_params):
    plans = plan_dialogs(api_pool, dialog_params)
    assert {p["type"] for p in plans} == {"single", "parallel", "dependent", "non_tool", "clarify"}
    for p in plans:
        names = [t["name"] for t in p["tools"]]
        assert set(p["targets"]) <= set(names) and len(names) == len(set(names))
        if p["type"] == "dependent":
            assert len(p["targets"]) == 2
        if p["type"] == "clarify":
            target = next(t for t in p["tools"] if t["name"] == p["targets"][0])
            assert p["missing"] in target["parameters"]["required"]
        if p["type"] == "non_tool":
            assert p["targets"] == []
    assert plan_dialogs(api_pool, dialog_params) == plans  # seeded


def test_plan_errors_are_clear(api_pool, dialog_params):
    with pytest.raises(ValueError, match="at least 2 APIs"):
        plan_dialogs(api_pool[:1], dialog_params)
    dialog_params["type_mix"] = {"chitchat": 1}
    with pytest.raises(ValueError, match="unknown dialog types"):
        plan_dialogs(api_pool, dialog_params)


def test_call_schema_admits_only_target_calls_with_valid_arguments(api_pool, dialog_params):
    plan = next(p for p in plan_dialogs(api_pool, dialog_params) if p["type"] == "parallel")
    messages, schema = agents.assistant_action(plan, [{"role": "user", "content": "hi"}], "call", plan["targets"])
    calls = schema["properties"]["calls"]
    assert calls["minItems"] == calls["maxItems"] == 2
    assert "hi" in messages[-1]["content"] and "thought" in messages[0]["content"]
    items = calls["items"].get("anyOf", [calls["items"]])
    assert {o["properties"]["name"]["const"] for o in items} == set(plan["targets"])


def test_calls_carry_the_required_and_the_planned_arguments_only():
    """The user fixes values for the required scalar parameters; the call grammar admits the
    required and planned parameters only -- an optional parameter nobody asked for cannot be
    invented."""
    api = {"name": "ship", "description": "Ship a parcel.", "parameters": {"type": "object", "properties": {
        "to": {"type": "object", "properties": {"city": {"type": "string"}}},
        "city": {"type": "string"}, "express": {"type": "boolean"}, "note": {"type": "string"}},
        "required": ["to", "city"]}}
    plan = {"type": "single", "targets": ["ship"], "tools": [api], "calls": 1}
    assert agents.user_values_schema(plan)["required"] == ["city"]
    _, schema = agents.assistant_action(plan, [{"role": "user", "content": "hi"}], "call", ["ship"], {"city": "Porto"})
    arguments = schema["properties"]["calls"]["items"]["properties"]["arguments"]
    assert set(arguments["properties"]) == set(arguments["required"]) == {"to", "city"}
    assert arguments["additionalProperties"] is False
    # no required parameter: the planned ones (the first two scalars) are the arguments
    optional = {**api, "parameters": {**api["parameters"], "required": []}}
    plan = {**plan, "tools": [optional]}
    values = {"city": "Porto", "express": True}
    assert set(agents.user_values_schema(plan)["required"]) == set(values)
    _, schema = agents.assistant_action(plan, [{"role": "user", "content": "hi"}], "call", ["ship"], values)
    assert set(schema["properties"]["calls"]["items"]["properties"]["arguments"]["properties"]) == set(values)


def test_distinct_values_keep_one_stated_value_out_of_two_arguments():
    """With two stated dates for two date parameters, ``distinct`` spells the arguments out as the
    two assignments of different dates (the assistant picks one); the stated values of another
    type, and a plan that itself repeats a value, are left as they were."""
    api = {"name": "fly", "description": "Find flights.", "parameters": {"type": "object", "properties": {
        "origin_date": {"type": "string", "format": "date"}, "return_date": {"type": "string", "format": "date"},
        "seats": {"type": "integer"}}, "required": ["origin_date", "return_date", "seats"]}}
    plan = {"type": "single", "targets": ["fly"], "tools": [api], "calls": 1}
    values = {"origin_date": "2025-03-01", "return_date": "2025-03-09", "seats": 2}
    turn = [{"role": "user", "content": "hi"}]

    def arguments(values, distinct=True):
        _, schema = agents.assistant_action(plan, turn, "call", ["fly"], values, grounded=True, distinct=distinct)
        return schema["properties"]["calls"]["items"]["properties"]["arguments"]

    branches = arguments(values)["anyOf"]
    assigned = {(b["properties"]["origin_date"]["enum"][0], b["properties"]["return_date"]["enum"][0])
                for b in branches}
    assert assigned == {("2025-03-01", "2025-03-09"), ("2025-03-09", "2025-03-01")}
    assert all(b["properties"]["seats"]["enum"] == [2] and b["required"] == ["origin_date", "return_date", "seats"]
               for b in branches)
    undistinct = arguments(values, distinct=False)  # the switch off: one enum of both dates for each
    assert "anyOf" not in undistinct and undistinct["properties"]["return_date"]["enum"] == ["2025-03-01", "2025-03-09"]
    repeated = arguments({**values, "return_date": "2025-03-01"})  # the plan wants one date twice
    assert "anyOf" not in repeated and repeated["properties"]["return_date"]["enum"] == ["2025-03-01"]
    # past the cap (5 strings for 5 parameters: 120 assignments), the plain enums stay
    wide = {"type": "object", "properties": {f"p{i}": {"type": "string", "enum": list("abcde")} for i in range(5)}}
    assert agents._distinct_branches(wide, list(wide["properties"])) is None
    assert len(agents._distinct_branches(wide, ["p0", "p1"])) == 20


def test_self_consistency_vote():
    a = {"thought": "t", "calls": [{"name": "f", "arguments": {"city": "Paris "}}]}
    b = {"thought": "u", "calls": [{"name": "f", "arguments": {"city": "paris"}}]}
    c = {"thought": "v", "calls": [{"name": "f", "arguments": {"city": "Rome"}}]}
    assert decision_key(a) == decision_key(b) != decision_key(c)
    assert vote([a, b, c], 0.6) == (a, 2 / 3)
    assert vote([a, c], 0.6) == (None, 0.5)


def test_dialogs_obey_the_contract_and_round_trip(api_pool, dialog_params, dialog_llm):
    plans = plan_dialogs(api_pool, dialog_params)
    states, counts = run_dialogs(plans, dialog_llm, dialog_params)
    samples = [to_sample(s, "scripted") for s in states]
    assert all(isinstance(s, dict) for s in samples), samples
    assert {s["type"] for s in samples} == {"single", "parallel", "dependent", "non_tool", "clarify"}
    for s in samples:
        DialogSample.model_validate(s)
        assert from_toolace(json.loads(json.dumps(to_toolace(s)))) == s and from_trl(to_trl(s)) == s
        tools = {t["name"]: t for t in s["tools"]}
        for m in s["messages"]:
            for call in m.get("tool_calls") or []:
                assert check_arguments(tools[call["name"]]["parameters"], call["arguments"]) == []
    by_type = {s["type"]: s for s in samples}
    assert len(by_type["parallel"]["messages"][1]["tool_calls"]) == 2
    assert sum(1 for m in by_type["dependent"]["messages"] if m.get("tool_calls")) == 2
    assert by_type["clarify"]["messages"][1]["content"] and not by_type["clarify"]["messages"][1].get("tool_calls")
    assert not any(m.get("tool_calls") for m in by_type["non_tool"]["messages"])
    assert counts["actions_kept"] > 0


def test_inconsistent_actions_and_failing_agents_drop_dialogs_with_reasons(api_pool, dialog_params):
    turn = Counter()

    def flaky(conv, params, schema):
        props = (schema or {}).get("properties", {})
        if "calls" in props:  # every sample disagrees
            turn["n"] += 1
            answer = json.loads(scripted_dialog_answer(conv, params, schema))
            for call in answer["calls"]:
                call["arguments"] = {**call["arguments"], **{k: f"v{turn['n']}" for k, v in call["arguments"].items()
                                                             if isinstance(v, str) and k != "area"}}
            return json.dumps(answer)
        if "reply" in props:
            return Completion(error="http_500")
        return scripted_dialog_answer(conv, params, schema)

    plans = plan_dialogs(api_pool, dialog_params)
    states, counts = run_dialogs(plans, ScriptedLLM(flaky), dialog_params)
    reasons = Counter(s.dropped for s in states if s.dropped)
    assert reasons["inconsistent_actions"] > 0 and counts["actions_dropped_inconsistent"] > 0
    assert all(s.dropped is None for s in states if s.plan["type"] == "non_tool")
    assert any(r.startswith("user_agent.http_500") for r in reasons)


def test_complexity_bounds_and_direction():
    low, high = bounds([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0], {"lower": None, "upper": None,
                                                                        "prior_quantiles": [0.1, 0.9]})
    assert (low, high) == (1.0, 5.0)
    assert bounds([1.0], {"lower": 0.2, "upper": 9.0, "prior_quantiles": [0.1, 0.9]}) == (0.2, 9.0)
    assert [direction(x, 1.0, 5.0) for x in (0.5, 2.0, 6.0, float("nan"))] == ["harder", None, "simpler", None]


def test_harder_and_simpler_change_the_user_instruction(api_pool, dialog_params):
    plan = plan_dialogs(api_pool, dialog_params)[0]
    plain, _ = agents.user_request(plan)
    harder, _ = agents.user_request(plan, "harder")
    simpler, _ = agents.user_request(plan, "simpler")
    assert "own way" in harder[-1]["content"] and "short" in simpler[-1]["content"]
    assert plain[-1]["content"] not in (harder[-1]["content"], simpler[-1]["content"])


def test_request_pattern_forces_every_chosen_value_into_the_request():
    import re

    import jsonschema

    values = {"first": {"city": "St. Moritz (CH)", "days": 3}, "second": {"city": "Lima", "flag": True}}
    pattern = agents.request_pattern(values)
    schema = {"type": "string", "pattern": pattern}
    jsonschema.validate("Weather in St. Moritz (CH) for 3 days, then Lima please", schema)
    for missing in ("Weather in St. Moritz (CH) for 3 days", "Weather in St xMoritz (CH) for 3 days and Lima",
                    "Lima first, then St. Moritz (CH) for 3 days"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(missing, schema)
    assert re.compile(pattern)  # a valid expression for Python's engine too
    assert agents.request_pattern({"tags": [{"x": 1}], "ok": None}) is None  # nothing scalar to state
    assert agents.request_pattern({"tags": ["ab", "cd"]}) == agents.request_pattern({"a": "ab", "b": "cd"})  # list items are stated


def test_request_pattern_keeps_the_topic_word_a_word_of_its_own():
    import re

    pattern = re.compile(agents.request_pattern({"ingredient": "basil"}, words=["cuisine", "recipe"]))
    assert pattern.match("Can you help me with cuisine ideas for basil?")
    assert pattern.match("Recipes with basil, please")
    assert not pattern.match("Can you help me withcuisine ideas for basil?")  # glued to the word before
    assert not pattern.match("Can you find a dish for basil?")  # no word of the topic
    api = {"name": "find_recipes", "description": "Search recipes.", "parameters": {"type": "object", "properties": {}}}
    _, schema = agents.user_request({"id": "x", "type": "single", "targets": ["find_recipes"], "tools": [api]},
                                    topic=True)  # nothing to state: the topic word alone is forced
    only_topic = re.compile(schema["properties"]["request"]["pattern"])
    assert only_topic.match("Any good recipes for tonight?") and only_topic.match("I need a recipe for tonight")
    assert not only_topic.match("I need arecipe for tonight")


def test_user_agent_states_its_values_and_the_dialog_keeps_them(api_pool, dialog_params, dialog_llm):
    plans = [p for p in plan_dialogs(api_pool, dialog_params) if p["type"] == "single"][:2]
    states, _ = run_dialogs(plans, dialog_llm, dialog_params)
    for state in states:
        sample = to_sample(state, "scripted")
        values = sample["meta"]["user_values"]
        assert values and all(str(v) in sample["messages"][0]["content"] for v in agents._stated(values))
    non_tool = [p for p in plan_dialogs(api_pool, dialog_params) if p["type"] == "non_tool"][:1]
    assert agents.user_values(non_tool[0]) is None


def test_adaptive_self_consistency_draws_the_third_sample_only_on_disagreement(api_pool, dialog_params):
    import copy

    dialog_params.update(n_dialogs=4, type_mix={"single": 1})
    plans = [copy.deepcopy(p) for p in plan_dialogs(api_pool, dialog_params)]
    for n, p in enumerate(plans):  # a mark per dialog in its tool list, so the fake can tell them apart
        p["tools"][0]["description"] += f" (#{n})"
    seen = Counter()

    def split_votes(conv, params, schema):
        """Dialogs 0 and 1 agree at once; 2 and 3 disagree on the first two samples, then the
        third sample sides with the first."""
        answer = json.loads(scripted_dialog_answer(conv, params, schema))
        if "calls" in answer:
            dialog = next(n for n in range(4) if f"(#{n})" in conv[0]["content"])
            seen[dialog] += 1
            if dialog >= 2 and seen[dialog] == 2:
                for call in answer["calls"]:
                    call["arguments"] = {k: v + ["zz"] if isinstance(v, list) else v + 1 if isinstance(v, int)
                                         else v + "zz" for k, v in call["arguments"].items()}
        return json.dumps(answer)

    states, counts = run_dialogs(plans, ScriptedLLM(split_votes), dialog_params)
    assert counts["call_samples_drawn.2"] == 2 and counts["call_samples_drawn.3"] == 2
    assert all(s.dropped is None for s in states)
    assert [round(min(s.agreement), 2) for s in states] == [1.0, 1.0, 0.67, 0.67]


def test_a_disagreeing_vote_is_resampled_with_fresh_seeds_up_to_retries(api_pool, dialog_params):
    """Every call sample of the first set differs (seeds 0-2); the fresh set (seeds 3-5) agrees.
    Without retries the dialog is dropped; with one it is kept on the second set's vote."""
    import copy

    from toolace_kedro.pipelines.dialog_generation.report import dialog_statistics

    dialog_params.update(n_dialogs=2, type_mix={"single": 1}, seed=0)
    plans = [copy.deepcopy(p) for p in plan_dialogs(api_pool, dialog_params)]
    seeds = []

    def first_set_disagrees(conv, params, schema):
        answer = json.loads(scripted_dialog_answer(conv, params, schema))
        if "calls" in answer:
            seeds.append(params["seed"])
            if params["seed"] < 3:  # a different value per sample
                for call in answer["calls"]:
                    call["arguments"] = {k: v + [str(params["seed"])] if isinstance(v, list)
                                         else v + 10 * (params["seed"] + 1) if isinstance(v, int)
                                         else v + "x" * (params["seed"] + 1) for k, v in call["arguments"].items()}
        return json.dumps(answer)

    for retries in (0, 1):
        seeds.clear()
        dialog_params["self_consistency"].update(retries=retries, adaptive=True)
        states, counts = run_dialogs(plans, ScriptedLLM(first_set_disagrees), dialog_params)
        if retries == 0:
            assert all(s.dropped == "inconsistent_actions" for s in states) and sorted(set(seeds)) == [0, 1, 2]
            assert counts["actions_dropped_inconsistent"] == 2 and not counts["actions_resampled_inconsistent"]
        else:
            assert all(s.dropped is None and s.finished for s in states) and sorted(set(seeds)) == [0, 1, 2, 3, 4]
            assert counts["actions_resampled_inconsistent"] == 2 and not counts["actions_dropped_inconsistent"]
            assert [min(s.agreement) for s in states] == [1.0, 1.0]  # the fresh set's vote (2 of 2)
            stats = dialog_statistics([], {"counts": dict(counts)})["self_consistency"]
            assert stats["actions_resampled"] == 2 and stats["actions_dropped"] == 0


def test_pool_rows_that_are_not_valid_apis_are_skipped_and_counted(tmp_path, api_pool, dialog_params, dialog_llm,
                                                                   monkeypatch):
    from toolace_kedro.datasets import JSONLinesDataset

    path = tmp_path / "api_pool.jsonl"
    nameless = {k: v for k, v in api_pool[0].items() if k != "name"}
    rows = [json.dumps(a) for a in api_pool] + ["{not json", json.dumps(nameless), json.dumps(api_pool[1]),
                                                json.dumps({**api_pool[0], "name": "x", "parameters": "none"})]
    path.write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(nodes, "build_llm", lambda config: dialog_llm)
    dialog_params["complexity"]["enabled"] = False
    dialogs, report = nodes.generate_dialogs(JSONLinesDataset(filepath=str(path)).load(), {}, dialog_params)
    assert dialogs
    block = report["skipped_input"]["api_pool"]
    n = len(api_pool)
    assert block["source"] == str(path) and (block["records"], block["kept"]) == (n + 4, n)
    assert block["by_reason"] == {"bad_json": 1, "api.missing_field": 2, "duplicate_name": 1}
    assert block["examples"][1].startswith(f"{path}:{n + 2}: api.missing_field: API has no name")
    assert block["examples"][2] == (f"{path}:{n + 3}: duplicate_name: {api_pool[1]['name']!r} "
                                    "is taken by an earlier API")
    assert nodes.summarise_dialogs(dialogs, report)[0]["skipped_input"] == report["skipped_input"]


def test_the_node_takes_the_typed_block_as_it_takes_the_dict(api_pool, dialog_params, tmp_path, monkeypatch):
    """The hook may hand the node the validated ``DialogGenerationParams``: the same dialogs (twins
    too), report and shard folder (the shards' fingerprint) as with the plain dict."""
    runs = {}
    for kind in ("dict", "typed"):
        params = {**dialog_params, "non_tool": {"unrelated_request": 0.5, "twins": 0.5},
                  "checkpoint": {"dir": str(tmp_path / kind), "shard_size": 4}}
        monkeypatch.setattr(nodes, "build_llm", lambda config: ScriptedLLM(scripted_dialog_answer))
        dialogs, report = nodes.generate_dialogs(
            api_pool, {}, params if kind == "dict" else DialogGenerationParams.model_validate(params))
        runs[kind] = (dialogs, {k: v for k, v in report.items() if k != "checkpoint"},
                      sorted(p.name for p in (tmp_path / kind).iterdir()))
    assert runs["typed"] == runs["dict"]
    assert runs["dict"][1]["twins"] > 0 and len(runs["dict"][0]) > dialog_params["n_dialogs"] // 2


def test_a_pool_without_two_valid_apis_is_a_clear_error(tmp_path, api_pool, dialog_params):
    from toolace_kedro.datasets import BadInputError, JSONLinesDataset

    path = tmp_path / "api_pool.jsonl"
    path.write_text(json.dumps(api_pool[0]) + "\n" + json.dumps({"name": "x"}) + "\n")
    with pytest.raises(BadInputError, match=rf"^api_pool \({path}\): dialog generation needs at least 2 valid APIs, "
                                            r"got 1 \(1 rows skipped \{'api.missing_field': 1\}\)"):
        nodes.generate_dialogs(JSONLinesDataset(filepath=str(path)).load(), {}, dialog_params)


class _OrderScorer:
    """Complexity by the order dialogs are scored in: the first pass of the k-th dialog to end
    gets ``first[k]``; a regenerated dialog gets the mean of the first four (inside their range)."""

    def __init__(self, first, retry=5.5):
        self.first, self.retry, self.seen, self.batches = list(first), retry, Counter(), []

    def __call__(self, samples):
        self.batches.append(len(samples))
        out = []
        for s in samples:
            self.seen[s["id"]] += 1
            out.append(self.first.pop(0) if self.seen[s["id"]] == 1 else self.retry)
        return out


def test_complexity_scores_each_dialog_as_it_ends_and_its_retry_joins_the_same_run(
        api_pool, dialog_params, dialog_llm, monkeypatch):
    """Bounds from the first ``prior_size`` dialogs to end; the ones out of bounds are
    regenerated (harder/simpler) inside the one ``run_flows`` call that makes all dialogs."""
    dialog_params.update(n_dialogs=10, chunk_size=10)
    dialog_params["complexity"].update(enabled=True, policy_model="stub", prior_size=4, batch_size=2)
    scorer = _OrderScorer([5, 6, 5, 6, 1, 9, 5, 1, 9, 5])
    monkeypatch.setattr(nodes, "ComplexityEvaluator", lambda *args: scorer)
    monkeypatch.setattr(nodes, "build_llm", lambda config: dialog_llm)
    runs = []
    real = dialog_llm.run_flows
    monkeypatch.setattr(dialog_llm, "run_flows", lambda flows: runs.append(1) or real(flows))
    dialogs, report = nodes.generate_dialogs(api_pool, {}, dialog_params)
    assert len(dialogs) == 10 and runs == [1]
    cx = report["complexity"]
    assert (cx["lower"], cx["upper"], cx["prior_size"]) == (5.0, 6.0, 4)
    assert (cx["complicated"], cx["simplified"], cx["kept_original_after_failed_retry"]) == (2, 2, 0)
    assert cx["in_bounds"] == 10 and max(scorer.batches) == 2 and sum(scorer.batches) == 14
    redone = sorted((d["meta"]["complexity_before"], d["meta"]["complexity_adjusted"]) for d in dialogs
                    if "complexity_adjusted" in d["meta"])
    assert redone == [(1.0, "harder"), (1.0, "harder"), (9.0, "simpler"), (9.0, "simpler")]
    assert all(d["meta"]["complexity"] == 5.5 for d in dialogs if "complexity_adjusted" in d["meta"])
    harder = [c for c in dialog_llm.calls if "own way" in c[-1]["content"]]
    simpler = [c for c in dialog_llm.calls if "short, plain" in c[-1]["content"]]
    assert len(harder) == 2 and len(simpler) == 2
    assert report["counts"]["complexity_round.actions_kept"] > 0


def test_a_dialog_is_not_regenerated_twice_in_the_same_direction(api_pool, dialog_params, dialog_llm, monkeypatch):
    """``max_rounds: 2``: a regeneration still too easy is not regenerated again the same way
    (the same prompts and seeds would give the same dialog)."""
    dialog_params.update(n_dialogs=10, chunk_size=10)
    dialog_params["complexity"].update(enabled=True, policy_model="stub", prior_size=4, batch_size=1, max_rounds=2)
    scorer = _OrderScorer([5, 6, 5, 6, 1, 5, 5, 5, 5, 5], retry=0.5)  # the regeneration is still too easy
    monkeypatch.setattr(nodes, "ComplexityEvaluator", lambda *args: scorer)
    monkeypatch.setattr(nodes, "build_llm", lambda config: dialog_llm)
    dialogs, report = nodes.generate_dialogs(api_pool, {}, dialog_params)
    assert report["complexity"]["complicated"] == 1 and sum(scorer.batches) == 11
    assert len([c for c in dialog_llm.calls if "own way" in c[-1]["content"]]) == 1

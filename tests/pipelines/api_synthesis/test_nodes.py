import json
from pathlib import Path

import pandas as pd
import pytest

from tests.support.fakes import ScriptedLLM
from toolace_kedro.llm.base import Completion
from toolace_kedro.pipelines.api_synthesis import nodes
from toolace_kedro.pipelines.api_synthesis.context_tree import ContextTree
from toolace_kedro.pipelines.api_synthesis.evolution import (
    PARAM_TYPES,
    DraftError,
    api_to_draft,
    draft_to_api,
    evolve,
)
from toolace_kedro.pipelines.api_synthesis.filtering import PoolFilter
from toolace_kedro.pipelines.api_synthesis.speciation import speciate
from toolace_kedro.toolcalls import api_problems, untyped_arrays


def test_bad_documents_are_skipped_and_counted(synthesis_params):
    raw = [{"id": "ok", "text": "A weather service with hourly forecasts."}, {"id": "empty", "text": "   "},
           {"id": "bin", "text": "\x00\x01\x02\x03 binary \x04\x05\x06"}, {"id": "huge", "text": "x" * 6000},
           {"id": "none", "text": None}, {"id": "short", "text": "hi"}, "not a record"]
    docs, report = nodes.prepare_documents(raw, synthesis_params)
    assert [d["id"] for d in docs] == ["ok"]
    assert report["documents_skipped"] == {"empty": 1, "binary": 1, "too_long": 1, "not_text": 2, "too_short": 1}
    block = report["skipped_input"]["raw_documents"]
    assert block["records"] == 7 and block["kept"] == 1 and block["skipped"] == 6
    assert block["examples"][0] == "raw_documents[1] (id 'empty'): empty"


def test_bad_document_lines_are_named_by_file_and_line(tmp_path, synthesis_params):
    from toolace_kedro.datasets import JSONLinesDataset

    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "ok", "text": "A weather service with hourly forecasts."}\n{"text": \n'
                    '{"id": "blank", "text": ""}\n{"body": "no text field here at all"}\n')
    docs, report = nodes.prepare_documents(JSONLinesDataset(filepath=str(path)).load(), synthesis_params)
    assert [d["id"] for d in docs] == ["ok"]
    block = report["skipped_input"]["raw_documents"]
    assert block["source"] == str(path) and block["by_reason"] == {"bad_json": 1, "empty": 1, "not_text": 1}
    assert block["examples"][1:] == [f"{path}:3 (id 'blank'): empty", f"{path}:4: not_text"]
    assert block["examples"][0].startswith(f"{path}:2: bad_json: ")
    assert report["documents_in"] == 4 and report["documents_skipped"] == block["by_reason"]


def test_dataframes_and_partitions_are_accepted(synthesis_params):
    df = pd.DataFrame({"text": ["A calendar API lets users create events."], "source": ["x"]})
    assert len(nodes.prepare_documents(df, synthesis_params)[0]) == 1
    parts = {"a.txt": lambda: "A news API returns top headlines by country.", "b.txt": lambda: b""}
    docs, report = nodes.prepare_documents(parts, synthesis_params)
    assert [d["id"] for d in docs] == ["a.txt"] and report["documents_skipped"] == {"empty": 1}


def test_no_usable_document_is_a_clear_error(synthesis_params):
    with pytest.raises(ValueError, match=r"^raw_documents: no usable record \(1 skipped \{'empty': 1\}"):
        nodes.prepare_documents([{"text": ""}], synthesis_params)
    with pytest.raises(ValueError, match="raw_documents must be records, a DataFrame or partitions, got int"):
        nodes.prepare_documents(3, synthesis_params)


def _seed_evolution(seed_apis, documents, scripted_llm, synthesis_params, monkeypatch):
    monkeypatch.setattr(nodes, "build_llm", lambda config: scripted_llm)
    tree, _ = speciate(documents, scripted_llm, synthesis_params["speciation"])
    return nodes.evolve_api_pool(tree.to_dict(), seed_apis, {}, synthesis_params)


def test_bad_seed_apis_are_skipped_and_counted(tmp_path, documents, scripted_llm, synthesis_params, flight_api,
                                               monkeypatch):
    from toolace_kedro.datasets import JSONLinesDataset

    path = tmp_path / "seeds.jsonl"
    no_params = {k: v for k, v in flight_api.items() if k != "parameters"}
    bad_schema = {**flight_api, "name": "bad_schema", "parameters": {"type": "object", "properties": {"a": {"type": 3}}}}
    path.write_text("\n".join(json.dumps(x) for x in (flight_api, {"description": "nameless"}, no_params, bad_schema)))
    pool, _, report = _seed_evolution(JSONLinesDataset(filepath=str(path)).load(), documents, scripted_llm,
                                      synthesis_params, monkeypatch)
    assert pool
    block = report["skipped_input"]["seed_apis"]
    assert block["kept"] == 1 and block["by_reason"] == {"api.missing_field": 2, "api.schema_invalid": 1}
    assert block["examples"][0].startswith(f"{path}:2: api.missing_field: API has no name")
    assert block["examples"][2].startswith(f"{path}:4: api.schema_invalid: API 'bad_schema' parameters")


def test_unusable_seed_apis_are_a_clear_error(tmp_path, documents, scripted_llm, synthesis_params, monkeypatch):
    from toolace_kedro.datasets import BadInputError, JSONLinesDataset

    path = tmp_path / "seeds.jsonl"
    path.write_text('{"name": "x"}\n')
    with pytest.raises(BadInputError, match=rf"^seed_apis \({path}\): no usable record .*{path}:1"):
        _seed_evolution(JSONLinesDataset(filepath=str(path)).load(), documents, scripted_llm, synthesis_params,
                        monkeypatch)
    strict = JSONLinesDataset(filepath=str(path), load_args={"on_error": "raise"}).load()  # as the catalog has it
    with pytest.raises(BadInputError, match=rf"bad record at {path}:1: api.missing_field"):
        _seed_evolution(strict, documents, scripted_llm, synthesis_params, monkeypatch)


def test_context_tree_merges_and_expands(documents, scripted_llm, synthesis_params):
    docs = documents + [{"id": "dup", "text": "Travel agency documentation, similar.", "source": "x"}]
    tree, counts = speciate(docs, scripted_llm, synthesis_params["speciation"])
    roots = [tree.nodes[r].name for r in tree.roots]
    assert roots.count("Travel") == 1 and len(roots) == 6
    travel = tree.nodes[next(r for r in tree.roots if tree.nodes[r].name == "Travel")]
    assert travel.documents == ["d0", "dup"]
    assert tree.max_depth() == 3 and counts["nodes_expanded"] == 6
    expanded = [n for n in tree.nodes.values() if n.depth == 3]
    assert all(n.documents for n in expanded), "children inherit provenance"
    assert ContextTree.from_dict(json.loads(json.dumps(tree.to_dict()))).to_dict() == tree.to_dict()


def test_malformed_llm_output_is_counted_not_fatal(documents, synthesis_params):
    llm = ScriptedLLM(lambda c, p, s: Completion(error="http_500"))
    tree, counts = speciate(documents, llm, synthesis_params["speciation"])
    assert counts["extraction_failed"] == len(documents) and not tree.nodes


def test_subtree_sampling_is_connected_and_sized(documents, scripted_llm, synthesis_params):
    import random

    tree, _ = speciate(documents, scripted_llm, synthesis_params["speciation"])
    rng = random.Random(1)
    for size in (1, 2, 3, 5):
        chosen = tree.sample_subtree(rng, size)
        assert len(chosen) == size and len(set(chosen)) == size
        roots = {tree.path(n)[0] for n in chosen}
        assert len(roots) == 1 or size > 5  # drawn from one domain while it has enough nodes


def test_draft_conversion_round_trip_and_nested_types():
    draft = {"name": "book_table", "description": "Book a restaurant table.", "parameters": [
        {"name": "guests", "type": "array<object>", "description": "Guests", "required": True,
         "fields": ["age:integer", "name:string"]},
        {"name": "when", "type": "date", "description": "Date", "required": True},
        {"name": "size", "type": "integer", "description": "Party size", "required": False, "range": [1, 12]},
        {"name": "area", "type": "string", "description": "Area", "required": False, "choices": ["in", "out"]},
        {"name": "tags", "type": "array<string>", "description": "Tags", "required": False},
        {"name": "contact", "type": "object", "description": "Contact", "required": False, "fields": ["phone:string"]}],
        "returns": ["booking_id:string", "seats:array"]}
    api, repairs = draft_to_api(draft)
    assert api_problems(api) == [] and repairs == []
    props = api["parameters"]["properties"]
    assert props["guests"]["items"]["properties"] == {"age": {"type": "integer"}, "name": {"type": "string"}}
    assert props["when"] == {"type": "string", "format": "date", "description": "Date"}
    assert props["size"] == {"type": "integer", "description": "Party size", "minimum": 1, "maximum": 12}
    assert props["area"]["enum"] == ["in", "out"] and props["tags"]["items"] == {"type": "string"}
    assert props["contact"]["properties"] == {"phone": {"type": "string"}}
    assert api["parameters"]["required"] == ["guests", "when"]
    assert api["returns"]["properties"]["seats"] == {"type": "array", "items": {"type": "string"}}
    assert draft_to_api(api_to_draft(api))[0] == api


def test_repeated_names_are_dropped_and_recorded():
    param = {"name": "city", "type": "string", "description": "City", "required": True}
    api, repairs = draft_to_api({"name": "x_y", "description": "d", "parameters": [param, param],
                                 "returns": ["a:string", "a:integer"]})
    assert list(api["parameters"]["properties"]) == ["city"] and api["parameters"]["required"] == ["city"]
    assert repairs == ["dropped repeated parameter city", "dropped repeated field a"]


def test_contradictory_drafts_are_rejected():
    with pytest.raises(DraftError, match="inverted_range"):
        draft_to_api({"name": "x_y", "description": "d", "returns": ["a:string"], "parameters": [
            {"name": "a", "type": "number", "description": "", "required": True, "range": [5, 1]}]})


def test_pool_filter_reasons(flight_api):
    f = PoolFilter(0.75, [flight_api])
    same = json.loads(json.dumps(flight_api))
    assert f.check(same).startswith("duplicate.exact")
    renamed = {**same, "name": "search_flights"}
    renamed["parameters"] = {"type": "object", "properties": {}}
    assert f.check(renamed).startswith("duplicate.name")
    near = {**same, "name": "search_flights_now", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}
    assert f.check(near).startswith("duplicate.near")
    assert f.check({**near, "name": "x", "description": ""}).startswith("api.missing_field")
    fresh = {"name": "get_air_quality", "description": "Air quality index for a city.", "domain": "Weather",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    assert f.check(fresh) is None and f.check(fresh).startswith("duplicate")


def test_evolution_grows_the_buffer_and_records_provenance(documents, scripted_llm, synthesis_params, flight_api):
    tree, _ = speciate(documents, scripted_llm, synthesis_params["speciation"])
    pool, rejects, per_gen = evolve(tree, [flight_api], scripted_llm, synthesis_params["evolution"])
    assert len(pool) + len(rejects) == 12 and pool
    assert [g["generation"] for g in per_gen] == [1, 2]
    assert per_gen[1]["buffer_size"] == 1 + len(pool)
    for api in pool:
        assert api_problems(api) == []
        src = api["source"]
        assert src["generation"] in (1, 2) and src["tree_nodes"] and src["documents"] and src["indicator"]
        assert "/" in api["domain"]
    assert all("reason" in r for r in rejects)
    # a rerun with the same seed sends exactly the same requests
    again = ScriptedLLM(scripted_llm.respond)
    evolve(tree, [flight_api], again, synthesis_params["evolution"])
    assert again.calls == [c for c in scripted_llm.calls if c[0]["content"].startswith("You are an API designer")]


def test_llm_failures_become_rejects_with_reason(documents, scripted_llm, synthesis_params, flight_api):
    tree, _ = speciate(documents, scripted_llm, synthesis_params["speciation"])
    broken = ScriptedLLM(lambda c, p, s: Completion(error="timeout"))
    pool, rejects, _ = evolve(tree, [flight_api], broken, synthesis_params["evolution"])
    assert pool == [] and {r["reason"] for r in rejects} == {"llm.timeout"}


def test_summary_and_plots(documents, scripted_llm, synthesis_params, flight_api):
    tree, counts = speciate(documents, scripted_llm, synthesis_params["speciation"])
    pool, rejects, per_gen = evolve(tree, [flight_api], scripted_llm, synthesis_params["evolution"])
    stats, metrics = nodes.summarise_api_pool(pool, rejects, tree.to_dict(), {"documents_skipped": {"empty": 2}},
                                              counts, {"generations": per_gen})
    assert stats["apis"] == len(pool) and stats["domains"] >= 2
    assert 0 < stats["nested_or_array_fraction"] < 1
    assert sum(stats["parameter_types"].values()) == sum(len(a["parameters"]["properties"]) for a in pool)
    assert metrics["documents_skipped"] == {"value": 2.0, "step": 0}
    figs = nodes.plot_api_pool(stats)
    assert len(figs) == 2 and all(hasattr(f, "savefig") for f in figs)


def test_a_folder_of_text_files_through_partitioned_dataset(tmp_path, synthesis_params):
    from kedro_datasets.partitions import PartitionedDataset

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "weather.txt").write_text("Weather API: hourly forecasts and severe weather alerts per region.")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (folder / "empty.txt").write_text("")
    parts = PartitionedDataset(path=str(folder), dataset="text.TextDataset", filename_suffix=".txt").load()
    docs, report = nodes.prepare_documents(parts, synthesis_params)
    assert [d["id"] for d in docs] == ["weather"]
    assert report["documents_skipped"] == {"unreadable": 1, "empty": 1}


def test_draft_arrays_always_get_an_item_type():
    def draft(**param):
        return {"name": "x_y", "description": "d", "returns": ["a:string", "tags:array"],
                "parameters": [{"name": "p", "description": "", "required": True, **param}]}

    api, repairs = draft_to_api(draft(type="array", item_type="int"))  # the draft's own item type
    assert api["parameters"]["properties"]["p"]["items"] == {"type": "integer"} and repairs == []
    api, _ = draft_to_api(draft(type="list", items={"type": "date"}))
    assert api["parameters"]["properties"]["p"]["items"] == {"type": "string", "format": "date"}
    api, _ = draft_to_api(draft(type="array", fields=["age:integer"]))
    assert api["parameters"]["properties"]["p"]["items"]["properties"] == {"age": {"type": "integer"}}
    assert api["returns"]["properties"]["tags"]["items"] == {"type": "string"}  # the field grammar's default
    for bad in (draft(type="array"), draft(type="tuple", item_type="thing"), draft(type="array<>")):
        with pytest.raises(DraftError, match="^draft.untyped_array: p "):
            draft_to_api(bad)
    for kind in PARAM_TYPES:  # every type the grammar admits gives a valid API
        fields = {"fields": ["k:string"]} if kind in ("object", "array<object>") else {}
        api, _ = draft_to_api(draft(type=kind, **fields))
        assert api_problems(api) == [] and untyped_arrays(api["parameters"]) == []


def test_seed_apis_pass_the_api_check():
    path = Path(__file__).resolve().parents[3] / "data/01_raw/seed_apis.jsonl"
    seeds = [json.loads(line) for line in path.read_text().splitlines()]
    assert seeds and all(api_problems(api) == [] for api in seeds)
    assert all(draft_to_api(api_to_draft(api))[0]["parameters"]["properties"].keys()
               == api["parameters"]["properties"].keys() for api in seeds)


def test_nodes_take_the_typed_model_as_they_take_the_dict(documents, synthesis_params, flight_api, tmp_path,
                                                          monkeypatch):
    """The hook may hand nodes ``ApiSynthesisParams`` instead of the dict: same output, and the
    same checkpoint fingerprint (a dict run's shards resume a typed run without a request)."""
    from toolace_kedro.params import CheckpointParams
    from toolace_kedro.pipelines.api_synthesis.config import ApiSynthesisParams
    from tests.pipelines.api_synthesis.conftest import scripted_answer

    synthesis_params["checkpoint"] = {"dir": str(tmp_path)}
    typed = ApiSynthesisParams.of(synthesis_params)
    assert ApiSynthesisParams.of(typed) is typed
    assert ApiSynthesisParams.of({**synthesis_params, "checkpoint": None}).checkpoint == CheckpointParams()

    def synthesise(params):
        llm = ScriptedLLM(scripted_answer)
        monkeypatch.setattr(nodes, "build_llm", lambda config: llm)
        docs, _ = nodes.prepare_documents(documents, params)
        tree, _ = nodes.build_context_tree(docs, {}, params)
        pool, rejects, report = nodes.evolve_api_pool(tree, [flight_api], {}, params)
        return (docs, tree, pool, rejects, report["generations"]), report["checkpoint"], len(llm.calls)

    from_dict, _, asked = synthesise(synthesis_params)
    from_model, checkpoint, asked_again = synthesise(typed)
    assert from_model == from_dict and asked > 0
    assert asked_again == 0 and checkpoint["shards_resumed"] == synthesis_params["evolution"]["n_generations"]


def test_min_parameters_is_the_draft_grammars_least_count(documents, scripted_llm, synthesis_params, flight_api):
    """``evolution.min_parameters``: every draft request's grammar asks for at least that many
    parameters; a minimum above the maximum is refused by name."""
    from toolace_kedro.pipelines.api_synthesis.config import EvolutionParams

    tree, _ = speciate(documents, scripted_llm, synthesis_params["speciation"])
    schemas = []
    respond = scripted_llm.respond

    def recording(conv, params, schema):
        if schema and "parameters" in schema.get("properties", {}):
            schemas.append(schema["properties"]["parameters"])
        return respond(conv, params, schema)

    evolve(tree, [flight_api], ScriptedLLM(recording), {**synthesis_params["evolution"], "min_parameters": 3})
    assert schemas and {(s["minItems"], s["maxItems"]) for s in schemas} == {(3, 5)}
    with pytest.raises(ValueError, match=r"evolution.min_parameters \(6\) exceeds evolution.max_parameters \(5\)"):
        EvolutionParams(min_parameters=6)

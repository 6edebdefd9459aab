import json

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from tests.support.strategies import dialog_samples
from toolace_kedro.toolcalls import (
    DialogSample,
    from_toolace,
    from_trl,
    parse_calls,
    system_prompt,
    to_toolace,
    to_trl,
    tools_from_system_prompt,
)

ROUND_TRIP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROUND_TRIP
@given(dialog_samples())
def test_toolace_round_trip(sample):
    canonical = DialogSample.model_validate(sample).to_dict()
    for call_format in ("python", "json"):
        row = to_toolace(canonical, call_format=call_format)
        assert from_toolace(json.loads(json.dumps(row))) == canonical


@ROUND_TRIP
@given(dialog_samples())
def test_trl_round_trip(sample):
    canonical = DialogSample.model_validate(sample).to_dict()
    assert from_trl(to_trl(canonical)) == canonical
    assert from_trl(json.loads(json.dumps(to_trl(canonical, arrow_safe=True)))) == canonical


def test_toolace_row_shape(dialog):
    row = to_toolace(dialog)
    assert [t["from"] for t in row["conversations"]] == ["user", "assistant", "tool", "assistant"]
    assert parse_calls(row["conversations"][1]["value"]) == dialog["messages"][1]["tool_calls"]
    tools = tools_from_system_prompt(row["system"])
    assert tools == dialog["tools"]
    assert '"type": "dict"' in row["system"]  # ToolACE/BFCL dialect in the prompt


def test_reads_team_ace_style_rows():
    row = {
        "system": "You are an expert in composing functions. Here is a list of functions in JSON format:\n"
                  '[{"name": "Market Trends API", "description": "Trends.", "parameters": {"type": "dict", '
                  '"properties": {"trend_type": {"description": "type", "type": "string"}}, "required": ["trend_type"]}}]'
                  "\nShould you decide to return the function call(s), put them in the format [func1(params)].",
        "conversations": [
            {"from": "user", "value": "Show me market gainers."},
            {"from": "assistant", "value": '[Market Trends API(trend_type="MARKET_INDEXES")]'},
            {"from": "tool", "value": '[{"name": "Market Trends API", "results": {"trends": []}}]'},
            {"from": "assistant", "value": "There are no trends right now."},
        ],
    }
    sample = from_toolace(row)
    assert sample["type"] == "single"
    assert sample["tools"][0]["parameters"]["type"] == "object"
    assert sample["messages"][1]["tool_calls"] == [{"name": "Market Trends API", "arguments": {"trend_type": "MARKET_INDEXES"}}]
    DialogSample.model_validate({**sample, "id": "x"})


def test_trl_rows_render_with_a_chat_template(dialog):
    from tokenizers import Tokenizer, models, pre_tokenizers

    # a tiny tokenizer with a tool-aware template, built locally (no hub)
    raw = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")
    tok.chat_template = (
        "{% for t in tools %}TOOL {{ t.function.name }} {% endfor %}"
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}"
        "{% for c in m.tool_calls or [] %}CALL {{ c.function.name }} {{ c.function.arguments | tojson }}{% endfor %}"
        "{% endfor %}"
    )
    row = to_trl(dialog)
    text = tok.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
    assert "TOOL search_flights" in text and 'CALL search_flights {"origin": "JFK"' in text


def test_arrow_safe_rows_survive_arrow(dialog, weather_api):
    other = {**dialog, "id": "d2", "tools": [weather_api | {"parameters": {"type": "object", "properties": {}}}]}
    rows = [to_trl(DialogSample.model_validate(d).to_dict(), arrow_safe=True) for d in (dialog, other)]
    table = pa.Table.from_pylist(rows)
    back = [from_trl(r) for r in table.to_pylist()]
    assert back[0] == DialogSample.model_validate(dialog).to_dict()


def test_system_prompt_rejects_unknown_format(dialog):
    with pytest.raises(ValueError, match="call_format"):
        system_prompt(dialog["tools"], "xml")


def test_training_messages_render_the_toolace_prompt_format(dialog):
    from toolace_kedro.toolcalls import training_messages

    messages = training_messages(dialog)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    shown = [{k: v for k, v in t.items() if k in ("name", "description", "parameters")} for t in dialog["tools"]]
    assert messages[0]["content"] == system_prompt(shown)
    assert messages[2]["content"] == '[search_flights(origin="JFK", destination="LAX", date="2025-03-01")]'
    assert json.loads(messages[3]["content"]) == dialog["messages"][2]["content"]


def test_training_messages_list_only_the_prompt_fields_of_each_tool(dialog):
    from toolace_kedro.toolcalls import PROMPT_TOOL_FIELDS, training_messages

    tagged = {**dialog, "tools": [{**t, "domain": "Travel/Flights", "source": {"tree_nodes": ["n1"]}}
                                  for t in dialog["tools"]]}
    listed = tools_from_system_prompt(training_messages(tagged)[0]["content"])
    assert listed and all(set(t) <= set(PROMPT_TOOL_FIELDS) for t in listed)
    everything = training_messages(tagged, tool_fields=None)[0]["content"]
    assert '"domain": "Travel/Flights"' in everything and "tree_nodes" in everything

"""Format generalisation: which tokens carry loss, exactly, in every format and mask source."""

from pathlib import Path

import pytest
import trl

from toolace_kedro.models import load_tokenizer
from toolace_kedro.models.scoring import assistant_spans
from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.formatting import assistant_char_spans, conversation, render_samples

TEMPLATES = Path(trl.__file__).parent / "chat_templates"
CALL = '[search_flights(origin="JFK", destination="LAX", date="2025-03-01")]'
JSON_CALL = ('[{"name": "search_flights", "arguments": {"origin": "JFK", "destination": "LAX", '
             '"date": "2025-03-01"}}]')
NATIVE_CALL = ('<tool_call>\n{"name": "search_flights", "arguments": {"origin": "JFK", "destination": "LAX", '
               '"date": "2025-03-01"}}\n</tool_call>')
ANSWER = "Flight UA1 goes from JFK to LAX on March 1."


@pytest.fixture
def tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir, padding_side="right")


@pytest.fixture
def qwen_tokenizer(tiny_model_dir):
    """The same vocabulary with a chat template that renders tools (Qwen2.5's, shipped by TRL)."""
    tok = load_tokenizer(tiny_model_dir, padding_side="right")
    tok.chat_template = (TEMPLATES / "qwen2_5.jinja").read_text()
    return tok


def loss_runs(tokenizer, row):
    """The decoded runs of consecutive loss-carrying tokens."""
    runs, current = [], []
    for token, bit in zip(row["input_ids"], row["assistant_masks"]):
        if bit:
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    if current:
        runs.append(tokenizer.decode(current))
    return runs


def test_prompt_format_loss_is_exactly_the_assistant_turns_and_their_end_token(tokenizer, dialog):
    rows, counts = render_samples([dialog], tokenizer, {})
    assert counts["format"] == "prompt" and counts["mask_source"] == "computed"  # SmolLM2: no generation markers
    assert loss_runs(tokenizer, rows[0]) == [CALL + "<|im_end|>", ANSWER + "<|im_end|>"]
    # the ids are the tokenised chat-template rendering, nothing dropped or added
    text = tokenizer.apply_chat_template(conversation(dialog, "prompt")[0], tokenize=False)
    assert tokenizer.decode(rows[0]["input_ids"]) == text
    assert rows[0]["id"] == "d1" and rows[0]["type"] == "single"


def test_every_assistant_turn_of_a_multi_turn_dialog_carries_loss(tokenizer, qwen_tokenizer, dialog):
    """A multi_turn dialog: both calls and both answers carry loss (content and end token), in the
    prompt and the native format; user and tool turns do not."""
    follow_up = '[search_flights(origin="JFK", destination="LAX", date="2025-03-02")]'
    dialog.update(type="multi_turn")
    dialog["messages"] += [
        {"role": "user", "content": "And the same route the day after?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "search_flights", "arguments": {
            "origin": "JFK", "destination": "LAX", "date": "2025-03-02"}}]},
        {"role": "tool", "content": [{"name": "search_flights", "results": {"flights": [{"id": "DL7"}]}}]},
        {"role": "assistant", "content": "DL7 flies that route on March 2."}]
    rows, _ = render_samples([dialog], tokenizer, {})
    assert loss_runs(tokenizer, rows[0]) == [CALL + "<|im_end|>", ANSWER + "<|im_end|>", follow_up + "<|im_end|>",
                                             "DL7 flies that route on March 2.<|im_end|>"]
    rows, _ = render_samples([dialog], qwen_tokenizer, {"format": "native"})
    runs = loss_runs(qwen_tokenizer, rows[0])
    assert len(runs) == 4 and runs[1] == ANSWER + "<|im_end|>" and '"date": "2025-03-02"' in runs[2]


def test_json_call_format(tokenizer, dialog):
    rows, counts = render_samples([dialog], tokenizer, {"call_format": "json"})
    assert counts["call_format"] == "json"
    assert loss_runs(tokenizer, rows[0]) == [JSON_CALL + "<|im_end|>", ANSWER + "<|im_end|>"]


def test_scoring_spans_lie_inside_the_training_spans(tokenizer, dialog):
    """models.scoring.assistant_spans (content only, for NLL) ⊂ training spans (content + end token)."""
    messages, _ = conversation(dialog, "prompt")
    text, train_spans = assistant_char_spans(tokenizer, messages)
    score_text, score_spans = assistant_spans(tokenizer, messages)
    assert text == score_text and len(score_spans) == len(train_spans) == 2
    for (a, b), (c, d) in zip(score_spans, train_spans):
        assert a == c and b < d and text[b:d] == "<|im_end|>"


def test_native_format_needs_a_template_with_tools(tokenizer, qwen_tokenizer, dialog):
    with pytest.raises(ValueError, match="does not render tool calls"):
        render_samples([dialog], tokenizer, {"format": "native"})
    assert render_samples([dialog], tokenizer, {"format": "auto"})[1]["format"] == "prompt"
    assert render_samples([dialog], qwen_tokenizer, {"format": "auto"})[1]["format"] == "native"


def test_native_format_computed_masks(qwen_tokenizer, dialog):
    rows, counts = render_samples([dialog], qwen_tokenizer, {"format": "native"})
    assert counts == {"format": "native", "call_format": None, "mask_source": "computed", "truncated": 0,
                      "dropped_no_assistant_tokens": 0, "prompt_variants": {"training": 1}}
    assert loss_runs(qwen_tokenizer, rows[0]) == [NATIVE_CALL + "<|im_end|>", ANSWER + "<|im_end|>"]
    text = qwen_tokenizer.decode(rows[0]["input_ids"])
    assert "# Tools" in text and '"name": "search_flights"' in text and "<tool_response>" in text


def test_template_generation_markers_are_used_when_present(qwen_tokenizer, dialog):
    """TRL's assistant-only masks (`{% generation %}`): the template decides, newlines included."""
    qwen_tokenizer.chat_template = (TEMPLATES / "qwen2_5_training.jinja").read_text()
    rows, counts = render_samples([dialog], qwen_tokenizer, {"format": "native"})
    assert counts["mask_source"] == "template"
    assert loss_runs(qwen_tokenizer, rows[0]) == ["\n" + NATIVE_CALL + "<|im_end|>\n", "\n" + ANSWER + "<|im_end|>\n"]
    computed, _ = render_samples([dialog], qwen_tokenizer, {"format": "native", "mask_source": "computed"})
    assert computed[0]["input_ids"] == rows[0]["input_ids"]


def test_template_masks_refused_without_markers(tokenizer, dialog):
    with pytest.raises(ValueError, match="no \\{% generation %\\} markers"):
        render_samples([dialog], tokenizer, {"mask_source": "template"})


def test_truncation_keeps_the_start_and_drops_rows_without_loss(tokenizer, dialog):
    full, _ = render_samples([dialog], tokenizer, {})
    n = len(full[0]["input_ids"])
    first_loss = full[0]["assistant_masks"].index(1)
    rows, counts = render_samples([dialog], tokenizer, {"max_length": first_loss + 3})
    assert counts["truncated"] == 1 and rows[0]["input_ids"] == full[0]["input_ids"][: first_loss + 3]
    assert sum(rows[0]["assistant_masks"]) == 3
    rows, counts = render_samples([dialog], tokenizer, {"max_length": first_loss})
    assert rows == [] and counts["dropped_no_assistant_tokens"] == 1 and n > first_loss


def test_unstable_template_is_named(tokenizer, dialog):
    """A template that renders earlier turns differently once more follow cannot be masked by prefixes."""
    tokenizer.chat_template = ("{% for m in messages %}{% if loop.last %}<last>{% endif %}"
                               "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                               "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    with pytest.raises(ValueError, match="dialog 'd1'.*prefix-stably"):
        render_samples([dialog], tokenizer, {})


def test_tools_are_shown_with_their_api_fields_only(tokenizer, dialog):
    """Provenance (domain, source) of the synthesis pipeline stays out of the prompt; null keeps it."""
    dialog["tools"][0]["source"] = {"tree_nodes": ["n1"], "documents": ["doc-1"]}
    text = tokenizer.decode(render_samples([dialog], tokenizer, {})[0][0]["input_ids"])
    assert '"name": "search_flights"' in text and '"parameters"' in text
    assert "Travel/Flights" not in text and "doc-1" not in text and '"returns"' not in text
    full = tokenizer.decode(render_samples([dialog], tokenizer, {"tool_fields": None})[0][0]["input_ids"])
    assert "Travel/Flights" in full and "doc-1" in full and '"returns"' in full


def test_prompt_variants_and_tool_order_are_drawn_per_dialog_and_seeded(tokenizer, dialog):
    """Format generalisation: each dialog is rendered in one of the weighted system-prompt
    wordings (BFCL's among them) with its tools shuffled; the draw depends on the dialog's id
    and the seed only, and the loss still covers exactly the assistant turns."""
    two = {**dialog, "tools": dialog["tools"] + [{**dialog["tools"][0], "name": "other.tool"}]}
    dialogs = [{**two, "id": f"d{i}"} for i in range(40)]
    params = {"prompt_variants": {"training": 1, "bfcl": 1, "bfcl_markdown": 1}, "shuffle_tools": True}
    rows, counts = render_samples(dialogs, tokenizer, params)
    assert set(counts["prompt_variants"]) == {"training", "bfcl", "bfcl_markdown"}
    assert sum(counts["prompt_variants"].values()) == 40
    texts = [tokenizer.decode(r["input_ids"]) for r in rows]
    assert any("You are an expert in composing functions." in t for t in texts)
    assert any("## Task" in t for t in texts) and any("You can call functions" in t for t in texts)
    firsts = {t.index("other.tool") < t.index(dialog["tools"][0]["name"] + '"') for t in texts}
    assert firsts == {True, False}  # both tool orders occur
    assert all(loss_runs(tokenizer, r)[0].startswith("[") for r in rows)
    again, _ = render_samples(dialogs, tokenizer, params)
    assert [r["input_ids"] for r in again] == [r["input_ids"] for r in rows]
    assert render_samples(dialogs, tokenizer, SFTParams.of(params)) == (rows, counts)  # the typed settings

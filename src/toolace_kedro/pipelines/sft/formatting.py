"""Format generalisation: each canonical dialog rendered for training in a chosen format, with the
loss on the assistant turns only.

Formats (``params.format``):

* ``prompt`` (default) — ToolACE's / BFCL's prompt format: a system prompt listing the tools as
  JSON, calls written as text, ``[f(a=1)]`` (``call_format: python``) or JSON calls
  (``call_format: json``); ``toolcalls.training_messages`` renders it, the same messages the
  complexity evaluator scores.
* ``native`` — the policy chat template's own tool format: ``messages`` with ``tool_calls`` and
  ``tools`` (``toolcalls.to_trl``), for templates that render tool calls (TRL's
  ``supports_tool_calling``); SmolLM2's does not, Llama-3.1's and Qwen's do.
* ``auto`` — ``native`` where the template supports tools, else ``prompt``.

Tools are shown with the fields of ``tool_fields`` only (default ``name``, ``description``,
``parameters``: BFCL's function format, which the evaluation prompts use): the pipeline's
provenance (``domain``, ``source``) is no part of an API a model should read, and it made the
ToolACE prompts of the embedded default 40 % longer.

Loss masks (``mask_source``): ``template`` uses the template's ``{% generation %}`` markers
(``return_assistant_tokens_mask``, TRL's assistant-only loss); ``computed`` derives them from
rendered prefixes: assistant turn *i* spans from the end of ``messages[:i]`` rendered with the
generation prompt to the end of ``messages[:i+1]`` (trailing whitespace dropped), so the turn's
content *and its end-of-turn token* carry loss (without it the model never learns to stop) and
turns with native ``tool_calls`` (empty content) are covered. ``models.scoring.assistant_spans``
finds the content of text turns only — the right measure for NLL scoring, not for training;
tests check that its spans lie inside these. ``auto`` picks ``template`` when the template has the
markers, else ``computed``. A token carries loss when its first character lies in a span.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.toolcalls import PROMPT_TOOL_FIELDS, to_trl, training_messages

__all__ = ["FORMATS", "MASK_SOURCES", "TOOL_FIELDS", "assistant_char_spans", "conversation", "prompt_messages",
           "render_samples", "rendering_choice", "resolve_format", "training_view"]

logger = logging.getLogger(__name__)

FORMATS = ("prompt", "native", "auto")
MASK_SOURCES = ("computed", "template", "auto")
TOOL_FIELDS = PROMPT_TOOL_FIELDS
_MESSAGE_KEYS = ("role", "content", "tool_calls", "name")


def training_view(sample: dict[str, Any], tool_fields: tuple[str, ...] | list[str] | None = TOOL_FIELDS
                  ) -> dict[str, Any]:
    """The sample with each tool cut to ``tool_fields`` (``None``: every field kept)."""
    if tool_fields is None:
        return sample
    return {**sample, "tools": [{k: v for k, v in t.items() if k in tool_fields} for t in sample.get("tools", [])]}


def prompt_messages(sample: dict[str, Any], call_format: str = "python",
                    tool_fields: tuple[str, ...] | list[str] | None = TOOL_FIELDS,
                    variant: str = "training") -> list[dict[str, str]]:
    """The sample in the ToolACE/BFCL prompt format (``toolcalls.training_messages``) with the
    tools cut to ``tool_fields``, in the system-prompt wording ``variant``: what difficulty and
    held-out NLL are measured on (in the ``training`` wording)."""
    return training_messages(sample, call_format, tool_fields, variant)


def rendering_choice(sample: dict[str, Any], variants: dict[str, float], shuffle_tools: bool, seed: int
                     ) -> tuple[dict[str, Any], str]:
    """Format generalisation for one dialog: its system-prompt wording drawn by the weights of
    ``variants`` and, with ``shuffle_tools``, its tools in a random order -- seeded by the
    dialog's id, so a dialog is rendered the same way in every run."""
    rng = random.Random(f"{seed}:{sample.get('id', '')}")
    names = [v for v, w in variants.items() if w > 0]
    variant = rng.choices(names, weights=[variants[v] for v in names])[0]
    if shuffle_tools and len(sample.get("tools", [])) > 1:
        tools = list(sample["tools"])
        rng.shuffle(tools)
        sample = {**sample, "tools": tools}
    return sample, variant


def resolve_format(tokenizer: Any, fmt: str) -> str:
    """``prompt`` or ``native``: ``auto`` becomes ``native`` when the chat template renders tool
    calls and tool results, else ``prompt``; ``native`` on a template without tools is an error."""
    from trl.chat_template_utils import supports_tool_calling

    if fmt not in FORMATS:
        raise ValueError(f"sft.format must be one of {FORMATS}, got {fmt!r}")
    if fmt == "prompt":
        return fmt
    native_ok = supports_tool_calling(tokenizer)
    if fmt == "native" and not native_ok:
        raise ValueError("sft.format is 'native' but the policy's chat template does not render tool calls and "
                         "tool results; use format: prompt (tools in the system prompt, calls as text)")
    return "native" if native_ok else "prompt"


def conversation(sample: dict[str, Any], fmt: str, call_format: str = "python",
                 tool_fields: tuple[str, ...] | list[str] | None = TOOL_FIELDS, variant: str = "training"
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """``(messages, tools)`` to hand the chat template: tools stay ``None`` in the prompt format
    (they are in the system prompt, worded as ``variant``)."""
    if fmt == "prompt":
        return prompt_messages(sample, call_format, tool_fields, variant), None
    row = to_trl(training_view(sample, tool_fields))
    messages = [{k: m[k] for k in _MESSAGE_KEYS if k in m} for m in row["messages"]]
    return messages, row["tools"]


def _render(tokenizer: Any, messages: list[dict], tools: list[dict] | None, generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                         add_generation_prompt=generation_prompt)


def assistant_char_spans(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict] | None = None
                         ) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character span of each assistant turn, end-of-turn token included.

    Raises ``ValueError`` when the template renders a prefix of the conversation differently from
    the start of the whole (e.g. it drops earlier turns' reasoning): masks cannot be computed then.
    """
    text = _render(tokenizer, messages, tools)
    spans = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        start_text = _render(tokenizer, messages[:i], tools, generation_prompt=True)
        end_text = _render(tokenizer, messages[: i + 1], tools)
        if not (text.startswith(start_text) and text.startswith(end_text)):
            raise ValueError(f"the chat template does not render turn {i} prefix-stably; use mask_source: template "
                             "with a template that has {% generation %} markers, or format: prompt")
        start, end = len(start_text), len(end_text.rstrip())
        if end > start:
            spans.append((start, end))
    return text, spans


def _computed_row(tokenizer: Any, messages: list[dict], tools: list[dict] | None) -> dict[str, list[int]]:
    text, spans = assistant_char_spans(tokenizer, messages, tools)
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    mask = [int(any(a <= s < b for a, b in spans)) for s, _ in enc["offset_mapping"]]
    return {"input_ids": list(enc["input_ids"]), "assistant_masks": mask}


def _template_row(tokenizer: Any, messages: list[dict], tools: list[dict] | None) -> dict[str, list[int]]:
    out = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    return {"input_ids": list(out["input_ids"]), "assistant_masks": [int(m) for m in out["assistant_masks"]]}


def _mask_source(tokenizer: Any, mask_source: str) -> str:
    from trl.chat_template_utils import has_generation_markers

    if mask_source not in MASK_SOURCES:
        raise ValueError(f"sft.mask_source must be one of {MASK_SOURCES}, got {mask_source!r}")
    markers = bool(tokenizer.chat_template) and has_generation_markers(tokenizer.chat_template)
    if mask_source == "template" and not markers:
        raise ValueError("sft.mask_source is 'template' but the chat template has no {% generation %} markers; "
                         "use mask_source: computed")
    if mask_source == "auto":
        return "template" if markers else "computed"
    return mask_source


def render_samples(samples: list[dict[str, Any]], tokenizer: Any, params: SFTParams | Mapping[str, Any]
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Tokenised training rows ``{"input_ids", "assistant_masks", "id", "type"}`` and counts, with
    the ``sft`` settings of ``params`` (``SFTParams`` or its dict).

    A row longer than ``max_length`` keeps its first ``max_length`` tokens (``truncated``); a row
    left with no loss-carrying token is dropped (``dropped_no_assistant_tokens``).
    """
    cfg = SFTParams.of(params)
    fmt = resolve_format(tokenizer, cfg.format)
    source = _mask_source(tokenizer, cfg.mask_source)
    call_format, tool_fields, max_length = cfg.call_format, cfg.tool_fields, cfg.max_length
    rows: list[dict[str, Any]] = []
    counts = {"format": fmt, "call_format": call_format if fmt == "prompt" else None, "mask_source": source,
              "truncated": 0, "dropped_no_assistant_tokens": 0}
    make_row = _template_row if source == "template" else _computed_row
    counts["prompt_variants"] = {}
    for sample in samples:
        sample, variant = rendering_choice(sample, cfg.prompt_variants, cfg.shuffle_tools, cfg.seed)
        counts["prompt_variants"][variant] = counts["prompt_variants"].get(variant, 0) + 1
        messages, tools = conversation(sample, fmt, call_format, tool_fields, variant)
        try:
            row = make_row(tokenizer, messages, tools)
        except ValueError as exc:
            raise ValueError(f"dialog {sample.get('id')!r}: {exc}") from None
        if max_length and len(row["input_ids"]) > max_length:
            row = {k: v[:max_length] for k, v in row.items()}
            counts["truncated"] += 1
        if not any(row["assistant_masks"]):
            counts["dropped_no_assistant_tokens"] += 1
            logger.warning("dialog %r has no assistant token within max_length=%s: dropped", sample.get("id"),
                           max_length)
            continue
        rows.append({**row, "id": str(sample.get("id", "")), "type": sample.get("type", "")})
    return rows, counts

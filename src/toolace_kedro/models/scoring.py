"""Teacher-forced scoring of assistant turns: the complexity evaluator of ToolACE and the
perplexity of iTool's deficiency mining use the same measure, the mean negative log-likelihood
of the assistant tokens under the policy."""

from __future__ import annotations

from typing import Any

__all__ = ["assistant_spans", "assistant_nll"]


def assistant_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """Render ``messages`` with the chat template; return the text and the character spans of
    every assistant turn's content (the tokens that carry loss)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant" or not msg["content"]:
            continue
        prefix = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        start = text.find(msg["content"], len(prefix) - 1 if prefix else 0)
        if start >= 0:
            spans.append((start, start + len(msg["content"])))
    return text, spans


def assistant_nll(model: Any, tokenizer: Any, conversations: list[list[dict[str, str]]],
                  batch_size: int = 8, max_length: int = 2048) -> list[float]:
    """Mean token NLL of the assistant turns of each conversation (NaN when it has none)."""
    import torch

    scores: list[float] = []
    pad = tokenizer.pad_token_id
    for start in range(0, len(conversations), batch_size):
        rows = []
        for messages in conversations[start : start + batch_size]:
            text, spans = assistant_spans(tokenizer, messages)
            enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False,
                            truncation=True, max_length=max_length)
            mask = [any(a <= s < b for a, b in spans) for s, _ in enc["offset_mapping"]]
            rows.append((enc["input_ids"], mask))
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        target = torch.zeros((len(rows), width), dtype=torch.bool)
        for r, (row_ids, mask) in enumerate(rows):  # right padding: positions stay 0..n-1
            ids[r, : len(row_ids)] = torch.tensor(row_ids)
            attention[r, : len(row_ids)] = 1
            target[r, : len(mask)] = torch.tensor(mask, dtype=torch.bool)
        keep = torch.zeros_like(target)
        keep[:, :-1] = target[:, 1:]  # the logits at p score the token at p + 1
        with torch.inference_mode():
            token_lp = _scored_logprobs(model, ids, attention, keep)
        counts = keep.sum(dim=1).tolist()
        for row_lp in torch.split(token_lp, counts):
            n = row_lp.numel()
            scores.append(float(-row_lp.sum() / n) if n else float("nan"))
    return scores


def _scored_logprobs(model: Any, ids: Any, attention: Any, keep: Any) -> Any:
    """Log-probabilities of the next tokens at the ``keep`` positions, flattened row by row.

    The vocabulary projection and the log-softmax run only where ``keep`` is true (through
    transformers' ``logits_to_keep`` mask): a 49k-word vocabulary over every position of a
    600-token dialog is most of the memory traffic of a scoring pass, and only the assistant's
    tokens are scored. Models whose forward has no ``logits_to_keep`` get the full logits."""
    import torch

    device = model.device
    targets = ids[:, 1:][keep[:, :-1]].to(device)
    keep = keep.to(device)
    try:
        logits = model(input_ids=ids.to(device), attention_mask=attention.to(device), logits_to_keep=keep).logits
    except TypeError:  # a forward without logits_to_keep
        logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits
    if logits.dim() == 3:  # the mask was not applied: slice the full logits
        logits = logits[keep]
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    return logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).cpu()

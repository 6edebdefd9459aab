"""Loss on the assistant tokens only, without projecting the other positions onto the vocabulary.

TRL 1.16 computes the SFT loss with a fused, chunked LM head. On CUDA/XPU (Triton) it scores only
the positions that carry loss; elsewhere — CPUs — it scores *every* position in pure PyTorch tiles
(plus entropy and top-1 extras). In the ToolACE prompt format most tokens are the system prompt's
tool list: about 7 % carry loss, so on a CPU most of the head's work is thrown away.
``AssistantOnlySFTTrainer`` asks the model for the logits of the loss positions only
(transformers' ``logits_to_keep`` with a boolean mask) and takes the cross-entropy there: the same
loss — sum of token NLLs over the batch's loss tokens / ``num_items_in_batch`` — computed through
the model's ordinary forward (so PEFT, DDP and DeepSpeed wrappers see a normal call).

``decision_weight`` (``sft.training.decision_weight``) multiplies the loss of the first token of
every assistant turn: the token that decides between calling (``[`` / ``{``) and answering in
text. With the mean over all assistant tokens that choice is one token in tens, while it decides
whether a request is served or declined.
"""

from __future__ import annotations

from typing import Any

from trl import SFTTrainer

__all__ = ["AssistantOnlySFTTrainer", "compact_loss", "turn_starts"]


def turn_starts(labels: Any) -> Any:
    """Boolean mask over ``labels[:, 1:]`` of the loss positions that open an assistant turn: the
    label before them (``labels[:, 0]`` for the first) is -100."""
    import torch

    targets_mask = labels[:, 1:] != -100
    before = torch.cat([torch.zeros_like(targets_mask[:, :1]), targets_mask[:, :-1]], dim=1)
    before[:, 0] = labels[:, 0] != -100
    return targets_mask & ~before


def compact_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None,
                 decision_weight: float = 1.0) -> tuple[Any, dict[str, Any]]:
    """``(loss, stats)``: summed NLL of the positions whose shifted label is not -100 (the first
    token of each assistant turn weighted ``decision_weight``), divided by ``num_items_in_batch``
    (or their count); stats: ``n`` tokens, ``correct`` top-1, ``entropy`` sum."""
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    targets_mask = labels[:, 1:] != -100
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = targets_mask
    model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
    model_inputs["use_cache"] = False
    logits = model(**model_inputs, logits_to_keep=keep).logits
    logits = logits.reshape(-1, logits.shape[-1]).float()
    targets = labels[:, 1:][targets_mask].to(logits.device)
    if decision_weight == 1.0:
        total = F.cross_entropy(logits, targets, reduction="sum")
    else:
        weights = 1.0 + (decision_weight - 1.0) * turn_starts(labels)[targets_mask].to(logits.device, logits.dtype)
        total = (F.cross_entropy(logits, targets, reduction="none") * weights).sum()
    count = targets.numel()
    denominator = num_items_in_batch if num_items_in_batch is not None else max(count, 1)
    loss = total / torch.as_tensor(denominator, device=total.device).clamp(min=1)
    with torch.no_grad():
        logp = torch.log_softmax(logits, dim=-1)
        stats = {"n": count, "correct": int((logits.argmax(-1) == targets).sum()),
                 "entropy": float(-(logp.exp() * logp).sum()) if count else 0.0}
    return loss, stats


class AssistantOnlySFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose loss projects only the loss-carrying positions (see module doc).
    Logs ``mean_token_accuracy``, ``entropy`` and ``num_tokens`` like TRL does."""

    def __init__(self, *args: Any, decision_weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decision_weight = float(decision_weight)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        import torch

        if return_outputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss, stats = compact_loss(model, inputs, num_items_in_batch, self.decision_weight)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        mode = "train" if self.model.training else "eval"
        n = max(stats["n"], 1)
        self._metrics[mode]["mean_token_accuracy"].append(stats["correct"] / n)
        self._metrics[mode]["entropy"].append(stats["entropy"] / n)
        if mode == "train":
            if "attention_mask" in inputs:
                tokens = int(inputs["attention_mask"].sum())
            else:
                tokens = int(inputs["input_ids"].numel())
            self._total_train_tokens += int(self.accelerator.gather_for_metrics(
                torch.tensor(tokens, device=loss.device)).sum())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return loss

"""SimPO (``CPOTrainer``) whose forward pass processes each pair's prompt once for both answers.

TRL's ``CPOTrainer`` runs prompt + chosen and prompt + rejected as two full sequences and projects
every position onto the vocabulary. In iTool's pairs the prompt (system prompt with the tool list
and the dialog, hundreds of tokens) is most of each sequence and the answers are a few dozen
tokens, so on a CPU most of that work is repeated or thrown away. ``SharedPromptCPOTrainer``:

1. runs the pairs' prompts once (left-padded, explicit positions, ``use_cache=True``; gradients
   flow through the cached keys and values into the LoRA weights of the prompt pass);
2. runs the chosen and the rejected answers as ``2B`` short rows on top of that cache, repeated
   once per side;
3. scores only the answer tokens (the first from the prompt pass's last logits).

The per-answer mean log-probability is the same quantity TRL computes (the tests compare both
forwards), so the SimPO loss, its reward margins and accuracies are unchanged. It applies when
the loss is SimPO without the BC term (``cpo_alpha=0``) on a decoder-only model and the chosen
and rejected rows of a batch share their prompt tokens; any other batch takes TRL's own forward.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache
from trl.experimental.cpo import CPOTrainer

__all__ = ["SharedPromptCPOTrainer", "split_rows"]


def split_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
               ) -> list[tuple[list[int], list[int]]]:
    """``(prompt_ids, answer_ids)`` per row of a right-padded batch: the prompt is the run of
    leading ``-100`` labels, the answer the labelled tokens after it."""
    rows = []
    for ids, mask, lab in zip(input_ids.tolist(), attention_mask.tolist(), labels.tolist()):
        length = sum(mask)
        start = next((i for i, value in enumerate(lab[:length]) if value != -100), length)
        rows.append((ids[:start], ids[start:length]))
    return rows


class SharedPromptCPOTrainer(CPOTrainer):
    """``CPOTrainer`` with the shared-prompt forward (see the module docstring)."""

    shared_batches = 0
    fallback_batches = 0

    def concatenated_forward(self, model: Any, batch: dict[str, Any]):
        if self.is_encoder_decoder or self.aux_loss_enabled or self.cpo_alpha != 0 or self.loss_type != "simpo":
            self.fallback_batches += 1
            return super().concatenated_forward(model, batch)
        chosen = split_rows(batch["chosen_input_ids"], batch["chosen_attention_mask"], batch["chosen_labels"])
        rejected = split_rows(batch["rejected_input_ids"], batch["rejected_attention_mask"], batch["rejected_labels"])
        if any(c[0] != r[0] or not c[0] or not c[1] or not r[1] for c, r in zip(chosen, rejected)):
            self.fallback_batches += 1
            return super().concatenated_forward(model, batch)
        self.shared_batches += 1
        return self._shared_forward(model, [c[0] for c in chosen], [c[1] for c in chosen] + [r[1] for r in rejected])

    def _shared_forward(self, model: Any, prompts: list[list[int]], answers: list[list[int]]):
        device, pad = self.accelerator.device, self.pad_token_id
        n_pairs, width = len(prompts), max(len(p) for p in prompts)
        ids = torch.full((n_pairs, width), pad, dtype=torch.long)
        mask = torch.zeros((n_pairs, width), dtype=torch.long)
        for row, prompt in enumerate(prompts):  # left padding: every prompt ends at the last column
            ids[row, width - len(prompt):] = torch.tensor(prompt)
            mask[row, width - len(prompt):] = 1
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                    use_cache=True, logits_to_keep=1)
        first_logits = out.logits[:, -1]  # predicts each answer's first token
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        cache = DynamicCache(ddp_cache_data=[(torch.cat([k, k]), torch.cat([v, v])) for k, v in layers])
        rows, span = len(answers), max(len(a) for a in answers)
        a_ids = torch.full((rows, span), pad, dtype=torch.long)
        a_mask = torch.zeros((rows, span), dtype=torch.long)
        for row, answer in enumerate(answers):
            a_ids[row, : len(answer)] = torch.tensor(answer)
            a_mask[row, : len(answer)] = 1
        lengths = torch.tensor([len(p) for p in prompts] * 2)
        a_positions = lengths.unsqueeze(1) + torch.arange(span).unsqueeze(0)
        full_mask = torch.cat([mask.repeat(2, 1), a_mask], dim=1)
        logits = model(input_ids=a_ids.to(device), attention_mask=full_mask.to(device),
                       position_ids=a_positions.to(device), past_key_values=cache, use_cache=False).logits
        # position t of the answer is predicted by the prompt's last logits (t = 0) or answer position t-1
        predicting = torch.cat([first_logits.repeat(2, 1).unsqueeze(1), logits[:, :-1]], dim=1).float()
        token_logps = torch.log_softmax(predicting, dim=-1).gather(-1, a_ids.to(device).unsqueeze(-1)).squeeze(-1)
        weights = a_mask.to(device, token_logps.dtype)
        logps = (token_logps * weights).sum(-1) / weights.sum(-1)
        nll = torch.tensor(0.0, device=device)
        return logps[:n_pairs], logps[n_pairs:], logits[:n_pairs], logits[n_pairs:], nll

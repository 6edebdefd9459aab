"""The compact assistant-only loss and padding-free attention compute what TRL / SDPA compute."""

import pytest
import torch
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
from trl import SFTConfig, SFTTrainer

from toolace_kedro.models import load_tokenizer
from toolace_kedro.pipelines.sft.varlen_attention import register_varlen_attention
from toolace_kedro.pipelines.sft.formatting import render_samples
from toolace_kedro.pipelines.sft.loss import AssistantOnlySFTTrainer


def _batch(trainer_class, model_dir, dialogs, padding_free, tmp_path, attn="sdpa"):
    tokenizer = load_tokenizer(model_dir, padding_side="right")
    rows, _ = render_samples(dialogs, tokenizer, {"max_length": 512})
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation=attn)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    args = SFTConfig(output_dir=str(tmp_path), bf16=False, padding_free=padding_free, max_length=None,
                     per_device_train_batch_size=len(rows), report_to="none", gradient_checkpointing=False)
    data = Dataset.from_list([{"input_ids": r["input_ids"], "assistant_masks": r["assistant_masks"]} for r in rows])
    trainer = trainer_class(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    batch = {k: v.to(trainer.args.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    n_items = int((batch["labels"][:, 1:] != -100).sum())
    return trainer, batch, n_items


@pytest.mark.parametrize("padding_free", [False, True])
def test_compact_loss_equals_trls_fused_loss(tiny_model_dir, sft_dialogs, padding_free, tmp_path):
    trl_trainer, batch, n = _batch(SFTTrainer, tiny_model_dir, sft_dialogs[:3], padding_free, tmp_path)
    ours, _, _ = _batch(AssistantOnlySFTTrainer, tiny_model_dir, sft_dialogs[:3], padding_free, tmp_path)
    trl_loss = trl_trainer.compute_loss(trl_trainer.model, dict(batch), num_items_in_batch=n)
    our_loss = ours.compute_loss(ours.model, dict(batch), num_items_in_batch=n)
    assert our_loss.item() == pytest.approx(trl_loss.item(), rel=1e-5)
    trl_loss.backward()
    our_loss.backward()
    for (name, a), (_, b) in zip(trl_trainer.model.named_parameters(), ours.model.named_parameters()):
        if a.requires_grad:
            assert torch.allclose(a.grad, b.grad, atol=1e-6), name
    assert ours._metrics["train"]["mean_token_accuracy"] and ours._metrics["train"]["num_tokens"]


def test_varlen_attention_matches_the_masked_row(tiny_model_dir):
    """sdpa_varlen over a packed row = SDPA with the block-diagonal mask = each sequence alone."""
    register_varlen_attention()
    torch.manual_seed(0)
    lengths = [5, 9, 3]
    seqs = [torch.randint(10, 1000, (n,)) for n in lengths]
    ids = torch.cat(seqs)[None]
    pos = torch.cat([torch.arange(n) for n in lengths])[None]
    cu = torch.tensor([0, 5, 14, 17], dtype=torch.int32)
    sdpa = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="sdpa")
    varlen = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32,
                                                  attn_implementation="sdpa_varlen")
    with torch.no_grad():
        masked = sdpa(input_ids=ids, position_ids=pos, use_cache=False).logits  # training: no cache
        ours = varlen(input_ids=ids, position_ids=pos, cu_seq_lens_q=cu, cu_seq_lens_k=cu).logits
        from_positions = varlen(input_ids=ids, position_ids=pos).logits
        alone = torch.cat([sdpa(input_ids=s[None]).logits for s in seqs], dim=1)
        # padded batches (scoring after training) fall back to SDPA with the padding mask
        padded = torch.zeros(2, 9, dtype=torch.long)
        padded[0, :5], padded[1] = seqs[0], seqs[1]
        attention = (padded != 0).long()
        pad_ours = varlen(input_ids=padded, attention_mask=attention).logits
        pad_sdpa = sdpa(input_ids=padded, attention_mask=attention).logits
        # a continuation of several tokens on a cached prefix: causal from the last keys
        cache = varlen(input_ids=seqs[1][None, :6], use_cache=True).past_key_values
        continued = varlen(input_ids=seqs[1][None, 6:], past_key_values=cache, use_cache=True).logits
    assert torch.allclose(continued[0], alone[0, 5 + 6:14], atol=1e-5)
    assert torch.allclose(ours, masked, atol=1e-5) and torch.allclose(ours, alone, atol=1e-5)
    assert torch.allclose(from_positions, ours, atol=1e-6)
    assert torch.allclose(pad_ours[0, :5], pad_sdpa[0, :5], atol=1e-5)
    assert torch.allclose(pad_ours[1], pad_sdpa[1], atol=1e-5)


def test_turn_starts_marks_the_first_target_of_each_assistant_turn():
    from toolace_kedro.pipelines.sft.loss import turn_starts

    labels = torch.tensor([[-100, -100, 5, 6, 7, -100, -100, 8, 9, -100],
                           [1, 2, -100, 3, -100, -100, -100, -100, -100, -100]])
    assert turn_starts(labels).nonzero().tolist() == [[0, 1], [0, 6], [1, 2]]


@pytest.mark.parametrize("padding_free", [False, True])
def test_decision_weight_scales_the_loss_of_turn_openings_only(tiny_model_dir, sft_dialogs, padding_free, tmp_path):
    from toolace_kedro.pipelines.sft.loss import compact_loss, turn_starts

    trainer, batch, n = _batch(AssistantOnlySFTTrainer, tiny_model_dir, sft_dialogs[:3], padding_free, tmp_path)
    labels = batch["labels"]
    starts = turn_starts(labels)
    assert 0 < int(starts.sum()) < n
    model_inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        logits = trainer.model(**model_inputs, use_cache=False).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                                reduction="none", ignore_index=-100).reshape(labels[:, 1:].shape)
        plain, _ = compact_loss(trainer.model, dict(batch), n)
        weighted, _ = compact_loss(trainer.model, dict(batch), n, decision_weight=4.0)
    assert plain.item() == pytest.approx(nll.sum().item() / n, rel=1e-5)
    assert weighted.item() == pytest.approx((nll.sum() + 3.0 * nll[starts].sum()).item() / n, rel=1e-5)

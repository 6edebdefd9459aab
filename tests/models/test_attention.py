import pytest
import torch

from toolace_kedro.models.decode_attention import DECODE_ATTENTION, use_decode_attention


def _tiny_llama(dtype=torch.float32):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=101, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=256)
    config._attn_implementation = "sdpa"
    return LlamaForCausalLM(config).to(dtype).eval()


def _prompt_and_steps(model, feed: int, padded: bool = True):
    """Logits of a prompt pass (left-padded rows or not), then of two passes of ``feed`` tokens
    each on its cache."""
    torch.manual_seed(1)
    ids = torch.randint(1, 100, (3, 20))
    mask = torch.ones_like(ids)
    if padded:  # left padding of different lengths
        mask[0, :7] = 0
        mask[1, :2] = 0
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    logits = []
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        logits.append(out.logits[:, -1])
        cache, last = out.past_key_values, positions[:, -1:]
        for step in range(2):
            new = torch.randint(1, 100, (3, feed))
            mask = torch.cat([mask, mask.new_ones((3, feed))], dim=1)
            pos = last + 1 + torch.arange(feed)
            last = pos[:, -1:]
            out = model(input_ids=new, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            logits.append(out.logits)
    return logits


@pytest.mark.parametrize("feed,padded", [(1, True), (1, False), (4, True)])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
def test_decode_attention_matches_sdpa(feed, padded, dtype, tol):
    model = _tiny_llama(dtype)
    expected = _prompt_and_steps(model, feed, padded)
    use_decode_attention(model)
    assert model.config._attn_implementation == DECODE_ATTENTION
    got = _prompt_and_steps(model, feed, padded)
    for want, have in zip(expected, got):
        assert torch.isfinite(have).all()
        torch.testing.assert_close(have.float(), want.float(), atol=tol, rtol=tol)


def test_only_one_token_inference_passes_are_packed(monkeypatch):
    """Prompt passes, several-token passes and training go through transformers' own function."""
    import transformers.integrations.sdpa_attention as sdpa

    calls = []
    real = sdpa.sdpa_attention_forward
    monkeypatch.setattr(sdpa, "sdpa_attention_forward", lambda *a, **k: calls.append(a[1].shape[2]) or real(*a, **k))
    model = _tiny_llama()
    use_decode_attention(model)
    with torch.inference_mode():
        out = model(input_ids=torch.randint(1, 100, (2, 5)), use_cache=True)
        out = model(input_ids=torch.randint(1, 100, (2, 1)), past_key_values=out.past_key_values, use_cache=True)
        model(input_ids=torch.randint(1, 100, (2, 2)), past_key_values=out.past_key_values, use_cache=True)
    model.train()
    model(input_ids=torch.randint(1, 100, (1, 1)))
    assert calls == [5, 5, 2, 2, 1, 1]  # two layers each; the one-token inference pass is not among them


def test_other_implementations_are_left_alone():
    model = _tiny_llama()
    model.set_attn_implementation("eager")
    use_decode_attention(model)
    assert model.config._attn_implementation == "eager"


def test_saved_config_does_not_name_the_implementation(tmp_path):
    """A saved model must load where ``sdpa_decode`` is not registered."""
    import json

    model = _tiny_llama()
    use_decode_attention(model)
    model.save_pretrained(tmp_path)
    assert DECODE_ATTENTION not in json.dumps(json.loads((tmp_path / "config.json").read_text()))

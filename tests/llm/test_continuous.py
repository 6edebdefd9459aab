"""Continuous batching: same tokens as decoding each request alone, slots refilled, shared prompts."""

import pytest
import torch

from toolace_kedro.llm.continuous import ContinuousBatcher, GenRequest, first_chunk, sample_rows
from toolace_kedro.models import load_policy


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    model, tok = load_policy(tiny_model_dir, cached=False)
    return model, tok


def _prompts(tok, sizes):
    return [tok(f"{'word ' * n}end {n}", add_special_tokens=False).input_ids for n in sizes]


def _run(model, tok, requests, **kwargs):
    engine = ContinuousBatcher(model, {tok.eos_token_id}, tok.pad_token_id, **kwargs)
    out = {}
    engine.run(requests, lambda i, ids, cut: out.__setitem__(i, (ids, cut)))
    return [out[i] for i in range(len(requests))], engine.stats


def _reference_greedy(model, ids, n):
    """Plain greedy decoding of one prompt with no padding and no cache tricks."""
    seq = torch.tensor([ids])
    out = []
    with torch.inference_mode():
        for _ in range(n):
            token = int(model(input_ids=seq).logits[0, -1].argmax())
            out.append(token)
            seq = torch.cat([seq, torch.tensor([[token]])], dim=1)
    return out


@pytest.mark.parametrize("bf16_prefill", [False, True])
def test_greedy_tokens_match_decoding_each_prompt_alone(bf16_prefill):
    """The real model (a random tiny one is blind to off-by-one positions): left padding, slot
    refills, cache merges and the slab cache change no greedy token; with a bfloat16 prefill
    the first tokens still agree (later ones may drift by rounding)."""
    model, tok = load_policy("smollm2-135m-instruct")
    prefill = load_policy("smollm2-135m-instruct", dtype="bfloat16")[0] if bf16_prefill else None
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True)
               for q in ("Name a colour.", "Write a long sentence about the history of trains in Europe.",
                         "What is 2 + 2?", "List three fruits, please, separated by commas.", "Hi!")]
    prompts = [p if isinstance(p, list) else p["input_ids"] for p in prompts]
    lengths = [6, 14, 4, 10, 8]  # rows finish at different steps: slots are refilled
    requests = [GenRequest(prompt_ids=p, max_tokens=n) for p, n in zip(prompts, lengths)]
    results, stats = _run(model, tok, requests, max_batch=2, prefill_tokens=64, prefill_model=prefill)
    assert stats["rebuilds"] > 2 and stats["steps"] < sum(lengths)
    assert 0 < stats["refills_in_place"] < stats["rebuilds"]  # both refill paths ran
    if bf16_prefill:
        lengths = [2] * len(lengths)
        results = [(ids[:2], cut) for ids, cut in results]
    for p, n, (ids, cut) in zip(prompts, lengths, results):
        ref = _reference_greedy(model, p, n)
        if tok.eos_token_id in ref:  # stops at the end-of-sequence token
            ref = ref[: ref.index(tok.eos_token_id)]
        assert ids[: len(ref)] == ref
        if not bf16_prefill:
            assert ids == ref and cut == (len(ids) == n)


def test_shared_prompt_is_prefilled_once_and_samples_differ_but_reproduce(tiny):
    model, tok = tiny
    prompt = _prompts(tok, [20])[0]
    requests = [GenRequest(prompt_ids=prompt, max_tokens=12, temperature=1.0, top_p=0.95, seed=7 + i)
                for i in range(4)]
    first, stats = _run(model, tok, requests, max_batch=4)
    assert stats["prefill_shared"] == 3 and stats["prefill_tokens"] == len(prompt)
    assert len({tuple(ids) for ids, _ in first}) > 1  # different samples of one prompt
    again, _ = _run(model, tok, requests, max_batch=2)  # other batch composition, same seed
    assert again == first


def test_first_chunk_groups_prompts_of_similar_length_within_the_budget():
    # padding three short prompts up to a long one costs more positions than a pass of their own
    assert first_chunk([300, 20, 18, 15], budget=2048, pass_positions=64) == 1
    assert first_chunk([20, 18, 15], budget=2048, pass_positions=64) == 3
    assert first_chunk([300, 290, 280, 20], budget=2048, pass_positions=64) == 3
    # where a pass is dear beside padding, all in one
    assert first_chunk([300, 20, 18, 15], budget=2048, pass_positions=10_000) == 4
    # the budget bounds a group of padded positions; a prompt longer than it still gets a pass
    assert first_chunk([300] * 10, budget=2048, pass_positions=64) == 6
    assert first_chunk([5000, 10], budget=2048, pass_positions=64) == 1
    assert first_chunk([], budget=2048, pass_positions=64) == 0


def test_prompts_of_different_lengths_prefill_in_groups_with_the_same_tokens(tiny):
    model, tok = tiny
    prompts = _prompts(tok, [90, 3, 4, 2])
    requests = [GenRequest(prompt_ids=p, max_tokens=5) for p in prompts]
    grouped, stats = _run(model, tok, requests, max_batch=4)
    together, one_pass = _run(model, tok, requests, max_batch=4, pass_positions=10**6)
    assert one_pass["prefill_padded"] == 4 * len(prompts[0])  # the short ones padded to the long one
    assert stats["prefill_padded"] == len(prompts[0]) + 3 * max(map(len, prompts[1:]))
    assert stats["prefill_tokens"] == one_pass["prefill_tokens"] == sum(map(len, prompts))
    assert grouped == together


def test_grammar_rows_and_free_rows_share_a_batch(tiny, tiny_model_dir):
    import json

    from toolace_kedro.llm import build_llm

    llm = build_llm({"model": tiny_model_dir, "progress": False, "batch_size": 3, "max_tokens": 40,
                     "max_string_length": 8})
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
              "required": ["a", "b"]}
    convs = [[{"role": "user", "content": "x " * n}] for n in range(6)]
    out = llm.chat_batch(convs, json_schema=[schema, None] * 3, temperature=0.8)
    for text in out[::2]:
        assert set(json.loads(text)) == {"a", "b"}
    assert all(isinstance(t, str) for t in out[1::2])


def _generators(*seeds):
    out = []
    for seed in seeds:
        generator = torch.Generator()
        generator.manual_seed(seed)
        out.append(generator)
    return out


def test_sample_rows_reproduces_keeps_the_nucleus_and_draws_each_row_on_its_own():
    logits = torch.randn(4, 1000, generator=torch.Generator().manual_seed(7)) * 3
    draw = sample_rows(logits, 1.0, 1.0, _generators(1, 2, 3, 4))
    assert draw.shape == (4,) and draw.dtype == torch.long
    # the same seeds give the same tokens; per-row settings equal to shared ones change nothing
    assert torch.equal(draw, sample_rows(logits, 1.0, 1.0, _generators(1, 2, 3, 4)))
    assert torch.equal(draw, sample_rows(logits, [1.0] * 4, [1.0] * 4, _generators(1, 2, 3, 4)))
    # many draws at a high temperature are not all the argmax, yet stay within the top_k
    many = torch.cat([sample_rows(logits, 2.0, 1.0, _generators(s, s, s, s), top_k=5) for s in range(50)])
    top5 = logits.topk(5, dim=-1).indices.repeat(50, 1)
    assert (many.unsqueeze(1) == top5).any(dim=1).all()
    assert not torch.equal(many, logits.argmax(dim=-1).repeat(50))
    # a tiny top_p leaves only the likeliest token
    for seed in range(20):
        assert torch.equal(sample_rows(logits, 2.0, 1e-6, _generators(*range(seed, seed + 4))), logits.argmax(dim=-1))
    # per-row top_p: only row 0 is cut to its argmax
    mixed = torch.stack([sample_rows(logits, 2.0, [1e-6, 1.0, 1.0, 1.0], _generators(s, s, s, s)) for s in range(50)])
    assert (mixed[:, 0] == logits[0].argmax()).all() and len(set(mixed[:, 1].tolist())) > 1
    # a row's draw depends on its own logits and generator only, not on the other rows of the batch
    for n in range(4):
        alone = sample_rows(logits[n : n + 1], 1.0, 1.0, _generators(n + 1))
        assert int(alone[0]) == int(draw[n])
    shuffled = sample_rows(logits[[3, 1]], [1.0, 1.0], [1.0, 1.0], _generators(4, 2))
    assert shuffled.tolist() == [int(draw[3]), int(draw[1])]


def test_prompts_sharing_a_prefix_reuse_its_cache_rows_and_decode_the_same_tokens():
    """The real model, float32: prompts that share a long system prompt (and one that extends an
    earlier prompt) start from the stored rows of the earlier ones -- same greedy tokens as
    decoding each prompt alone, with fewer positions prefilled."""
    model, tok = load_policy("smollm2-135m-instruct")
    system = {"role": "system", "content": "You are a careful assistant. You answer with one short sentence and "
                                           "you never use lists, tables or code in your answers."}
    first = [system, {"role": "user", "content": "Name a colour."}]
    convs = [first,
             [system, {"role": "user", "content": "What is 2 + 2?"}],
             first + [{"role": "assistant", "content": "Blue."}, {"role": "user", "content": "And another one?"}],
             [system, {"role": "user", "content": "Say hello in French."}]]
    prompts = [tok.apply_chat_template(c, add_generation_prompt=True) for c in convs]
    prompts = [p if isinstance(p, list) else p["input_ids"] for p in prompts]
    requests = [GenRequest(prompt_ids=p, max_tokens=6) for p in prompts]
    results, stats = _run(model, tok, requests, max_batch=1, prefix_cache_tokens=4096)
    plain, plain_stats = _run(model, tok, requests, max_batch=1)
    assert plain_stats["prefix_reused_tokens"] == 0 and plain_stats["prefill_tokens"] == sum(map(len, prompts))
    # all but the first prompt start from a stored one; the third from the whole first prompt
    assert stats["prefix_reused_tokens"] >= len(prompts[0]) + 2 * 30
    assert stats["prefill_tokens"] + stats["prefix_reused_tokens"] == sum(map(len, prompts))
    for p, (ids, _), (plain_ids, _) in zip(prompts, results, plain):
        ref = _reference_greedy(model, p, 6)
        if tok.eos_token_id in ref:
            ref = ref[: ref.index(tok.eos_token_id)]
        assert ids == ref == plain_ids


def test_prefix_store_finds_the_longest_prefix_and_stays_within_its_budget():
    from toolace_kedro.llm.continuous import PrefixStore

    def rows(n):
        return [(torch.full((1, n, 2), float(n)), torch.zeros((1, n, 2)))]

    store = PrefixStore(max_tokens=60, min_tokens=4)
    a, b = tuple(range(20)), tuple(range(10)) + (99,) * 15
    store.add(a, rows(20))
    store.add(b, rows(25))
    assert store.longest(tuple(range(30)))[0] == 20  # all of a
    assert store.longest(tuple(range(12)) + (7,))[0] == 12  # a shares 12
    assert store.longest(tuple(range(10)) + (99, 99, 5))[0] == 12  # b shares 12
    assert store.longest(a)[0] == 19  # one token is always left to compute
    assert store.longest((0, 1, 2, 5))[0] == 0  # below min_tokens
    store.add(tuple(range(100, 130)), rows(30))  # 75 tokens held > 60: the least recently used (b) goes
    assert len(store) == 2 and store.longest(b + (1,))[0] == 10


def test_max_batch_tokens_bounds_the_rows_decoding_together_without_changing_tokens(tiny):
    model, tok = tiny
    prompts = _prompts(tok, [30, 5, 28, 6, 25, 4])
    requests = [GenRequest(prompt_ids=p, max_tokens=8) for p in prompts]
    free, free_stats = _run(model, tok, requests, max_batch=6)
    budget = len(prompts[0]) + 8 + len(prompts[1]) + 8 + 2  # one long and one short row fit, not two long
    bounded, stats = _run(model, tok, requests, max_batch=6, max_batch_tokens=budget)
    assert bounded == free
    assert free_stats["step_rows"] / free_stats["steps"] > stats["step_rows"] / stats["steps"]
    lone, _ = _run(model, tok, requests[:2], max_batch=6, max_batch_tokens=4)  # longer than the budget: alone
    assert lone == free[:2]

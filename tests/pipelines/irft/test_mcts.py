"""Step-level MCTS: step splitting, PUCT, backup, prefix-cache reuse, and a search on a tiny model
whose reward favours one continuation."""

import math

import pytest
import torch

from toolace_kedro.models import load_tokenizer
from toolace_kedro.pipelines.irft.decoding import Rollout, StepSampler
from toolace_kedro.pipelines.irft.mcts import Node, StepSearch, run_searches, step_length
from toolace_kedro.pipelines.irft.preference import step_pairs

TARGET = {"id": "s1", "kind": "tool_call", "answer": "yes",
          "context": [{"role": "system", "content": "Answer yes or no."}, {"role": "user", "content": "Ready?"}],
          "calls": None}


def _texts(pieces):
    return ["".join(pieces[: i + 1]) for i in range(len(pieces))]


@pytest.mark.parametrize(("pieces", "fragments", "expected"), [
    (["[f", "(a", "=", "1", ")]"], 2, 3),              # "(" then "=": the step is "[f(a="
    (["[f", "(a", "=\"", "x", "\",", " b", "="], 2, 3),  # the token that completes "=" ends the step
    (["[f", "(a", "=", "\"x", "\", ", "b", "="], 3, 5),  # ", " inside a token: up to that token
    (["hello", " world"], 2, 2),                        # no separator: the whole continuation
    (["Yes. ", "It ", "is. ", "Go"], 2, 3),
    ([], 2, 0),
])
def test_step_length(pieces, fragments, expected):
    assert step_length(_texts(pieces), [". ", ", ", "=", "("], fragments) == expected


@pytest.fixture(scope="module")
def tokenizer(embedded_model_dir):
    return load_tokenizer(embedded_model_dir)


def test_puct_selection_and_backup(tokenizer):
    search = StepSearch(TARGET, lambda answer: 0.0, tokenizer, {"c": 1.0})
    root = search.nodes[0]
    root.visits, root.children = 4, [1, 2]
    search.nodes += [Node(tokens=(1,), depth=1, parent=0, prior=0.9, visits=1, value_sum=-1.0),
                     Node(tokens=(2,), depth=1, parent=0, prior=0.1, visits=3, value_sum=0.3)]
    # Q/(n+1) + c*P*sqrt(ln N/(n+1)):  child1: -0.5 + 0.9*sqrt(ln4/2) = 0.249; child2: 0.075 + 0.1*sqrt(ln4/4) = 0.134
    assert search._puct(0, 1) == pytest.approx(-0.5 + 0.9 * math.sqrt(math.log(4) / 2))
    assert search.select() == 1
    search.nodes[1].value_sum = -2.0  # now child 1: -1 + 0.749 < child 2
    assert search.select() == 2
    search._backup(2, 1.0, rollout=7)
    assert (search.nodes[2].visits, search.nodes[2].value_sum, search.nodes[2].rollouts) == (4, 1.3, [7])
    assert (root.visits, root.value_sum, root.rollouts) == (5, 1.0, [7])


def test_terminal_leaf_is_re_evaluated_not_expanded(tokenizer):
    search = StepSearch(TARGET, lambda answer: 0.0, tokenizer, {})
    search.nodes[0].children = [1]
    search.nodes.append(Node(tokens=(5,), depth=1, parent=0, terminal=True, reward=0.7, visits=1, value_sum=0.7))
    search.nodes[0].visits, search.nodes[0].value_sum = 1, 0.7
    assert search.select() is None
    assert (search.nodes[1].visits, search.nodes[1].value) == (2, pytest.approx(0.7))
    assert search.revisits == 1


def test_expand_cuts_steps_merges_duplicates_and_sets_priors(tokenizer):
    ids = tokenizer('[f(a=1, b=2)]', add_special_tokens=False)["input_ids"]
    rewards = iter([1.0, 0.5, -1.0])
    search = StepSearch(TARGET, lambda answer: next(rewards), tokenizer, {"fragments_per_step": 2})
    other = tokenizer("no", add_special_tokens=False)["input_ids"]
    search.expand(0, [Rollout(list(ids), [-0.1] * len(ids), True), Rollout(list(ids), [-0.3] * len(ids), True),
                      Rollout(list(other), [-2.0] * len(other), True)])
    root = search.nodes[0]
    assert len(root.children) == 2  # the two identical first steps merged
    first, second = (search.nodes[c] for c in root.children)
    assert tokenizer.decode(list(first.tokens)) == "[f(a="
    assert (first.visits, first.value) == (2, pytest.approx(0.75))
    assert first.prior == pytest.approx(math.exp(-0.1)) and not first.terminal
    assert second.terminal and second.reward == -1.0  # "no" ended within its step
    assert root.visits == 3 and len(search.rollouts) == 3


class BiasedPolicy(torch.nn.Module):
    """A tiny random Llama whose logits favour a few tokens: answers like "yes,no,yes"."""

    def __init__(self, inner, favoured):
        super().__init__()
        self.inner = inner
        bias = torch.zeros(inner.config.vocab_size)
        bias[favoured] = 30.0
        self.register_buffer("bias", bias)

    @property
    def device(self):
        return self.inner.device

    @property
    def generation_config(self):
        return self.inner.generation_config

    def forward(self, **kwargs):
        out = self.inner(**kwargs)
        out.logits = out.logits + self.bias.to(out.logits.dtype)
        return out


@pytest.fixture(scope="module")
def biased(tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    inner = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    favoured = [tokenizer.convert_tokens_to_ids(t) for t in ("yes", "no", ",")] + [tokenizer.eos_token_id]
    return BiasedPolicy(inner, favoured).eval()


SEARCH = {"k": 8, "n_iterations": 6, "max_new_tokens": 8, "separators": [","], "fragments_per_step": 1,
          "max_depth": 3, "seed": 0, "batch_samples": 2}


def test_search_finds_the_branch_the_reward_favours(biased, tokenizer):
    sampler = StepSampler(biased, tokenizer, max_new_tokens=8, simulation_tokens=4)
    favour_yes = lambda target: (lambda answer: 1.0 if answer.startswith("yes") else -1.0)  # noqa: E731
    [search] = run_searches([TARGET], sampler, favour_yes, SEARCH, progress=False)
    root = search.nodes[0]
    children = [search.nodes[c] for c in root.children]
    text = lambda node: tokenizer.decode(list(node.tokens))  # noqa: E731
    assert any(text(c).startswith("yes") for c in children) and any(not text(c).startswith("yes") for c in children)
    assert text(max(children, key=lambda c: c.value)).startswith("yes")
    assert text(max(children, key=lambda c: c.visits)).startswith("yes")  # PUCT went down the better branch
    visits_yes = sum(c.visits for c in children if text(c).startswith("yes"))
    assert visits_yes > sum(c.visits for c in children if not text(c).startswith("yes"))
    pairs, _ = step_pairs(search.to_record(), {"min_value_gap": 0.1, "max_word_overlap": 0.95,
                                               "min_chosen_value": -0.3})
    root_pair = next(p for p in pairs if p["prefix"] == "")
    assert root_pair["chosen"].startswith("yes") and not root_pair["rejected"].startswith("yes")
    assert root_pair["chosen_value"] == 1.0 and root_pair["rejected_value"] == -1.0


def test_prefix_reuse_matches_recomputing_the_prefix(biased, tokenizer):
    trees = []
    for mode in ("reuse", "per_expansion", "per_child"):
        sampler = StepSampler(biased, tokenizer, max_new_tokens=8, simulation_tokens=4, prefix=mode)
        searches = run_searches([TARGET, dict(TARGET, id="s2")], sampler,
                                lambda t: (lambda a: float(a.count("yes") - a.count("no"))), SEARCH, progress=False)
        trees.append([s.to_record() for s in searches])
        if mode == "reuse":  # the prompt was processed once per sample, not once per expansion
            assert sampler.stats["prefill_tokens"] < 2 * len(sampler.prompt_ids(TARGET["context"])) + 200
    strip = lambda tree: [(n["prefix"], n["visits"], n["children"]) for n in tree["nodes"]]  # noqa: E731
    assert [strip(t) for t in trees[0]] == [strip(t) for t in trees[1]] == [strip(t) for t in trees[2]]


def test_sampler_logprobs_match_a_full_forward_pass(tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    sampler = StepSampler(model, tokenizer, max_new_tokens=6, simulation_tokens=0)
    prompt = sampler.prompt_state(sampler.prompt_ids(TARGET["context"]))
    prefix = tokenizer("[f(a=", add_special_tokens=False)["input_ids"]
    short = sampler.prompt_state(sampler.prompt_ids(TARGET["context"][:1]))  # another length in the batch
    [rollouts, _] = sampler.expand([(prompt, prefix, 2, 1), (short, [], 3, 2)])
    for rollout in rollouts:
        ids = prompt.ids + prefix + rollout.tokens
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
        start = len(prompt.ids) + len(prefix)
        expected = [torch.log_softmax(logits[start - 1 + i], -1)[t].item() for i, t in enumerate(rollout.tokens)]
        assert rollout.logprobs == pytest.approx(expected, abs=1e-4)

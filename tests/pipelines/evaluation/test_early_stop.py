"""``generation.early_stop``: BFCL answers end once they can no longer become calls, and no
verdict changes -- checked against the decoders (ours and bfcl-eval's) on the agreement corpus."""

from __future__ import annotations

import random
from collections import Counter

import pytest

import toolace_kedro.pipelines.evaluation.nodes as nodes
from tests.pipelines.evaluation.bfcl_cases import ast_cases, raw_cases, relevance_cases
from tests.support.fakes import ScriptedLLM
from toolace_kedro.pipelines.evaluation.bfcl import CATEGORIES, DecodeError, check_output, decode_output, load_category
from toolace_kedro.toolcalls.call_prefix import never_python_calls

pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence")

#: entries per category, and prose answers of the kind an untrained model writes
SAMPLE, SEED = 30, 5
PROSE = ["To calculate the factorial of 5, you can use the `math.factorial` function in Python.\n\n```python\n"
         "import math\n```", "Here's a possible itinerary for a 7-day trip to Tokyo:\n\nDay 1: Tokyo",
         "I'm sorry, I cannot help with that.", "def reschedule(event: str) -> None:\n    pass",
         "Sure, I'd be happy to help.", "我可以使用Python的requests.get()函数，并返回一个url。",
         "The earliest reference of Jesus Christ is the Gospel of Luke."]


def _decodes_to_calls(output: str) -> bool:
    try:
        return bool(decode_output(output))
    except DecodeError:
        return False


@pytest.mark.parametrize("category", CATEGORIES)
def test_a_settled_answer_never_decodes_and_its_verdict_is_the_full_answers(official_bfcl, category):
    rng = random.Random(f"{SEED}-{category}")
    stats = Counter()
    for entry in load_category(category, sample_size=SAMPLE, seed=SEED):
        answer = entry["possible_answer"]
        cases = relevance_cases(entry, rng) if answer is None else ast_cases(entry, answer, rng) + raw_cases()
        cases += [("prose", p) for p in PROSE]
        for kind, output in cases:
            stats["outputs"] += 1
            if not never_python_calls(output):
                # no prefix of an answer that may be calls is settled (checked on a sample: quadratic)
                if _decodes_to_calls(output) and rng.random() < 0.05:
                    assert not any(never_python_calls(output[:k]) for k in range(len(output))), output
                continue
            stats["settled"] += 1
            assert not _decodes_to_calls(output), (kind, output)
            try:
                official = official_bfcl.decode(output, evaluate=False)
            except Exception:
                official = None
            assert not official, (kind, output, official)
            # the first settled prefix scores as the whole answer
            cut = next(output[:k] for k in range(1, len(output) + 1) if never_python_calls(output[:k]))
            assert check_output(category, entry, answer, cut)[0] == check_output(category, entry, answer, output)[0]
    assert stats["settled"] >= 0.05 * stats["outputs"], stats  # the rule is exercised, not vacuous


def test_bfcl_items_are_asked_with_the_stop_rule_and_limits(bfcl_data_small, dialog, monkeypatch):
    seen = []

    def respond(messages, sampling, schema):
        seen.append(sampling)
        return "To call a function, you would"

    monkeypatch.setattr(nodes, "build_llm", lambda config: ScriptedLLM(respond, max_tokens=config.get("max_tokens", 256)))
    params = {"seed": 0, "prompt": "bfcl", "bfcl": {"categories": ["simple_python", "irrelevance"], "sample_size": 2},
              "synthetic": True, "call_format": "python",
              "generation": {"max_tokens": 32, "max_tokens_by_category": {"irrelevance": 8}}}
    items, _ = nodes.build_items(bfcl_data_small, [dialog], params)
    predictions = nodes.predict_base(items, "base", {"progress": False}, params)
    assert [s.get("stop_when") for s in seen] == ["python_calls"] * 4 + ["tool_calls"]  # the synthetic dialog's own
    assert [s["max_tokens"] for s in seen] == [32, 32, 8, 8, 32]
    assert [p.get("never_calls") for p in predictions] == [True] * 4 + [None]
    seen.clear()
    nodes.predict_base(items, "base", {"progress": False}, {**params, "generation": {"early_stop": False}})
    assert all("stop_when" not in s for s in seen)
    with pytest.raises(ValueError, match=r"unknown BFCL categories in max_tokens_by_category \['simple_pyton'\]"):
        nodes.predict_base(items, "base", {}, {**params, "generation": {"max_tokens_by_category": {"simple_pyton": 8}}})
    with pytest.raises(ValueError, match=r"max_tokens_by_category\.irrelevance\s+Input should be greater than 0"):
        nodes.predict_base(items, "base", {}, {**params, "generation": {"max_tokens_by_category": {"irrelevance": 0}}})


@pytest.fixture(scope="module")
def bfcl_data_small():
    from toolace_kedro.datasets import BFCLDataset

    return BFCLDataset(categories=["simple_python", "irrelevance"]).load()

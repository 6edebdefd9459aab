"""n-gram overlap between synthetic training dialogs and BFCL questions."""

from __future__ import annotations

import random
import time

import pytest

from toolace_kedro.pipelines.evaluation.bfcl import CATEGORIES, load_category
from toolace_kedro.pipelines.evaluation.decontamination import (
    bfcl_user_texts,
    contamination_report,
    ngram_hashes,
    words,
)


def _dialog(*user_turns: str) -> dict:
    messages = []
    for text in user_turns:
        messages += [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]
    return {"id": "t", "type": "non_tool", "tools": [], "messages": messages}


def test_ngrams_ignore_case_and_punctuation():
    assert words("Find the AREA, of a triangle!") == ["find", "the", "area", "of", "a", "triangle"]
    assert len(ngram_hashes("a b c d", n=2)) == 3
    assert ngram_hashes("a b", n=3) == set()
    assert ngram_hashes("Find the area of a triangle", 4) == ngram_hashes("find the area, of a TRIANGLE.", 4)


def test_report_finds_pasted_and_partial_questions():
    simple = load_category("simple_python", sample_size=20, seed=1)
    first, second = [e for e in simple if len(words(bfcl_user_texts(e)[0])) >= 16][:2]
    pasted, partial = bfcl_user_texts(first)[0], bfcl_user_texts(second)[0]
    half = " ".join(words(partial)[: len(words(partial)) // 2 + 8])
    dialogs = [_dialog("Hello there, please book me a table for two tonight at eight.", pasted.upper()),
               _dialog(f"Something else first. {half}")]
    report = contamination_report(dialogs, {"simple_python": simple, "irrelevance": load_category("irrelevance", 30)})
    assert report["n"] == 8 and report["training_user_turns"] == 3
    simple_stats = report["categories"]["simple_python"]
    assert simple_stats["items"] == 20 and simple_stats["max_overlap"] == 1.0
    assert simple_stats["most_overlapping"][0] == {"id": first["id"], "overlap": 1.0}
    overlapping = {row["id"]: row["overlap"] for row in simple_stats["most_overlapping"]}
    assert 0 < overlapping[second["id"]] < 1
    assert simple_stats["any_overlap_fraction"] >= 2 / 20
    assert 1 / 20 <= simple_stats["over_threshold_fraction"] < simple_stats["any_overlap_fraction"] + 1e-9
    assert report["categories"]["irrelevance"]["items"] == 30
    assert report["overall"]["items"] == 50
    with pytest.raises(ValueError, match="n must be at least 1"):
        contamination_report(dialogs, {}, n=0)


def test_unrelated_training_text_does_not_overlap():
    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(500)]
    dialogs = [_dialog(" ".join(rng.choices(vocabulary, k=30))) for _ in range(200)]
    report = contamination_report(dialogs, {"live_simple": load_category("live_simple")}, n=5)
    stats = report["categories"]["live_simple"]
    assert stats["any_overlap_fraction"] == 0.0 and stats["max_overlap"] == 0.0 and stats["most_overlapping"] == []
    assert stats["too_short"] == sum(1 for e in load_category("live_simple")
                                     if all(len(words(t)) < 5 for t in bfcl_user_texts(e)))


def test_all_of_bfcl_against_many_dialogs_is_fast():
    bfcl = {c: load_category(c) for c in CATEGORIES}
    # 5,000 training dialogs made of BFCL-like sentences from other entries: realistic overlap
    rng = random.Random(1)
    pool = [t for entries in bfcl.values() for e in entries for t in bfcl_user_texts(e)]
    dialogs = [_dialog(" ".join(rng.choice(pool).split()[:12]) + " please") for _ in range(5000)]
    start = time.perf_counter()
    report = contamination_report(dialogs, bfcl)
    elapsed = time.perf_counter() - start
    assert report["overall"]["items"] == sum(len(v) for v in bfcl.values())
    assert 0 < report["overall"]["any_overlap_fraction"] < 1
    assert elapsed < 10, f"{elapsed:.1f} s for 3,5k questions against 5k dialogs"

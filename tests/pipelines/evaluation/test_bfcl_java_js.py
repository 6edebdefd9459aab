"""BFCL's Java and JavaScript categories: verdicts compared with the official checker (its
tree-sitter decoders and type converters) on generated answers for every entry."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from tests.pipelines.evaluation.bfcl_java_js_cases import java_js_cases
from tests.pipelines.evaluation.conftest import AGREEMENT, TREE_SITTER
from toolace_kedro.pipelines.evaluation.bfcl import (
    check_output,
    load_category,
    score_output,
)
from toolace_kedro.pipelines.evaluation.bfcl_java_js import DecodeError, decode_java_js
from toolace_kedro.pipelines.evaluation.bfcl_java_js_values import java_value, js_value

LANGUAGES = {"simple_java": "java", "simple_javascript": "javascript"}
SIZES = {"simple_java": 100, "simple_javascript": 50}
SEED = 8
needs_tree_sitter = pytest.mark.skipif(not TREE_SITTER, reason="tree-sitter 0.21 with its Java and JavaScript "
                                       "grammars (BFCL's decoders) is not installed: pip install -e '.[test]'")


def _official_calls(decoded):
    """BFCL's decoders return ``{}`` (Java) or ``None`` (JavaScript) for a program without a call."""
    return decoded if isinstance(decoded, list) else []


@needs_tree_sitter
@pytest.mark.parametrize("category", list(LANGUAGES))
def test_verdicts_agree_with_the_official_checker(official_bfcl, category):
    language = LANGUAGES[category]
    rng = random.Random(f"{SEED}-{category}")
    entries = load_category(category)
    assert len(entries) == SIZES[category]
    snapshot = json.dumps(entries, sort_keys=True)
    stats, mismatches = Counter(), []
    for entry in entries:
        for kind, output in java_js_cases(entry, language, rng):
            answer = entry["possible_answer"]
            ours, reason = check_output(category, entry, answer, output)
            reference = official_bfcl.verdict(category, entry, answer, output)
            stats["outputs"] += 1
            stats[f"ours_{'pass' if ours else 'fail'}"] += 1
            if reference.valid is None:
                stats["official_raised"] += 1
                if ours:
                    mismatches.append((entry["id"], kind, output, "official raised, ours passed", reason))
                continue
            if ours != reference.valid:
                mismatches.append((entry["id"], kind, output, f"official {reference.valid}", reason))
                continue
            try:
                decoded = decode_java_js(output, language)
            except DecodeError:
                decoded = None
            if (decoded is None) != reference.decode_error or (
                    decoded is not None and decoded != _official_calls(reference.decoded)):
                mismatches.append((entry["id"], kind, output, f"decoded {reference.decoded!r:.80}", f"{decoded!r:.80}"))
                continue
            stats["agree"] += 1
    assert json.dumps(entries, sort_keys=True) == snapshot, "a checker mutated the entries"
    AGREEMENT[f"outputs[{category}]"] = stats["outputs"]
    AGREEMENT[f"agree[{category}]"] = stats["agree"]
    AGREEMENT[f"ours_pass[{category}]"] = stats["ours_pass"]
    AGREEMENT[f"disagree[{category}]"] = len(mismatches)
    assert not mismatches, f"{len(mismatches)} disagreements, e.g. " + "\n".join(map(repr, mismatches[:8]))
    assert stats["ours_pass"] >= 0.05 * stats["outputs"] and stats["ours_fail"] >= 0.3 * stats["outputs"]


# --------------------------------------------------------------------------- behaviour, without the reference
def test_java_decoding_rules():
    assert decode_java_js("[A.b.c(x=true, y=new ArrayList<>(Arrays.asList(\"a\", \"b\")))]", "java") == [
        {"A.b.c": {"x": "true", "y": 'new ArrayList<>(Arrays.asList("a", "b"))'}}]
    assert decode_java_js("[foo(m=new HashMap<String, Integer>() {{ put(\"k\", 5); }}, a=new int[] {1, 2})]",
                          "java") == [{"foo": {"m": "new HashMap<String,Integer>()", "a": "new int[]{1,2}"}}]
    assert decode_java_js("[longerName(a='xyz', b=x . y, c=-3, someVariable)]", "java") == [
        {"longerName": {"a": "xyz", "b": "x.y", "c": "-3", None: "someVariable"}}]
    assert decode_java_js("[f(a=1); g(b=2)]", "java") == [{"f": {"a": "1"}}]
    assert decode_java_js("[]", "java") == []
    for text in ("[f(a=1)]", "[longerName(a=1), g(b=2)]", "[longerName(a=[1, 2])]", "[longerName(a=new int[3])]",
                 "[longerName(a=1, a=2)]", "[longerName(a='')]", "Sorry, I can't.", "[longerName(a=1)] done"):
        with pytest.raises(DecodeError):
            decode_java_js(text, "java")


def test_javascript_decoding_rules():
    assert decode_java_js("[f(a=1, b='x', c=[1, 2], d={k: \"v\"}, e=x.y)]", "javascript") == [
        {"f": {"a": "1", "b": "x", "c": "[1, 2]", "d": '{k: "v"}', "e": "x.y"}}]
    assert decode_java_js("[f(x, false, 3, a=\"a\" + \"b\")]", "javascript") == [
        {"f": {None: "x", "a": 'a" + "b'}}]
    with pytest.raises(DecodeError, match="given twice"):  # two bare identifiers (true counts as one)
        decode_java_js("[f(x, true)]", "javascript")
    assert decode_java_js("[f(a=1), g(b=2)]", "javascript") == []
    assert decode_java_js("[f(a=1)\ng(b=2)]", "javascript") == [{"f": {"a": "1"}}]
    for text in ("[f(a=lambda x: x)]", "[f(a=1)] done", "[f(a=1) g(b=2)]", "[f(a={1, 2})]"):
        with pytest.raises(DecodeError):
            decode_java_js(text, "javascript")


def test_value_conversion():
    assert java_value("1.5f", "float") == 1.5 and java_value("1.5", "float") == "1.5"
    assert java_value("10L", "long") == 10 and java_value("10", "long") == "10"
    assert java_value('new ArrayList<>(Arrays.asList("a", "b"))', "ArrayList", "String") == ["a", "b"]
    assert java_value('new String[]{"a","b"}', "Array", "String") == ['"a"', '"b"']  # BFCL keeps the quotes
    assert java_value('new HashMap<String, Object>() {{ put("k", 5); put("s", "v"); }}', "HashMap") == {"k": 5, "s": "v"}
    assert java_value("new HashMap<String,Integer>()", "HashMap") == {}
    assert java_value("new ArrayList<>()", "ArrayList", "String") == [] and java_value("x", "ArrayList") == "x"
    assert js_value("'x'", "String") == "x" and js_value("4", "float") == 4.0 and js_value("4.5", "integer") == "4.5"
    assert js_value('["a", "b"]', "array", "String") == ["a", "b"]
    assert js_value("[[1, 2], [3]]", "array") == [[1, 2], [3]]
    assert js_value("{limit: 5, name: 'x', tags: ['a']}", "dict") == {"limit": 5, "name": "x", "tags": ["a"]}


def test_scores_a_java_entry():
    entry = next(e for e in load_category("simple_java") if e["id"] == "simple_java_6")
    answer = entry["possible_answer"]
    name = next(iter(answer[0]))
    good = f"[{name}(refreshMetadata=true, append=true, keepState=true)]"
    assert check_output("simple_java", entry, answer, good) == (True, "ok")
    assert check_output("simple_java", entry, answer, good.replace("append=true", "append='true'"))[0]
    ok, reason = check_output("simple_java", entry, answer, good.replace("append=true", "append=1"))
    assert not ok and reason.startswith("type_error")
    assert not score_output("simple_java", entry, answer, f"[{name}(refreshMetadata=True, append=True, keepState=True)]")

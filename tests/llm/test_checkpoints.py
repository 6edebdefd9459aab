"""Shard checkpoints: atomic shards keyed by a fingerprint, usage across processes, the outage guard."""

import json

import pytest

from tests.support.fakes import ScriptedLLM
from toolace_kedro.llm import ShardCheckpoints, ShardFailureError
from toolace_kedro.llm.base import Completion, add_usage


def store(tmp_path, identity="same", llm=None, **kwargs):
    return ShardCheckpoints(tmp_path, "stage", identity, llm=llm, **kwargs)


def test_a_saved_shard_is_loaded_by_a_new_store_with_the_same_fingerprint(tmp_path):
    first = store(tmp_path)
    assert first.load("s0", inputs=[1]) is None
    first.save("s0", {"kept": [1, 2]}, inputs=[1])
    files = sorted(p.relative_to(first.path).as_posix() for p in first.path.rglob("*") if p.is_file())
    assert files == ["manifest.json", "shards/s0.json"]  # no temporary file left behind
    again = store(tmp_path)
    assert again.load("s0", inputs=[1]) == {"kept": [1, 2]} and again.resumed == 1
    assert again.load("s0", inputs=[2]) is None, "a shard made from other inputs is not reused"
    assert store(tmp_path, identity="other").load("s0", inputs=[1]) is None, "another fingerprint starts fresh"


def test_unreadable_shards_and_stale_temporary_files_are_regenerated(tmp_path):
    first = store(tmp_path)
    first.save("s0", 1)
    (first.path / "shards" / "s0.json").write_text('{"inputs": ')  # cut by a crash of another writer
    stale = first.path / "shards" / ".s1.json.123.tmp"
    stale.write_text("{")
    again = store(tmp_path)
    assert again.load("s0") is None and not stale.exists()


def test_usage_adds_the_earlier_processes_of_the_same_fingerprint(tmp_path):
    killed = ScriptedLLM(lambda *a: "x")
    killed.chat_batch([[{"role": "user", "content": "a"}]] * 3)
    store(tmp_path, llm=killed).save("s0", 1)
    resumed = ScriptedLLM(lambda *a: "x")
    resumed.chat_batch([[{"role": "user", "content": "b"}]])
    usage = store(tmp_path, llm=resumed).usage()
    assert usage["requests"] == 4 and usage == add_usage(killed.usage.as_dict(), resumed.usage.as_dict())


def test_chat_batch_answers_a_finished_batch_from_its_shard_failures_included(tmp_path):
    def respond(conv, params, schema):
        return Completion(error="http_503") if "bad" in conv[-1]["content"] else "ok"

    llm = ScriptedLLM(respond)
    prompts = [[{"role": "user", "content": t}] for t in ("a", "bad", "b")]
    assert store(tmp_path, llm=llm).chat_batch("g1", llm, prompts, max_tokens=8) == (["ok", None, "ok"], {1: "http_503"})
    again = ScriptedLLM(respond)
    assert store(tmp_path, llm=again).chat_batch("g1", again, prompts, max_tokens=8) == (["ok", None, "ok"], {1: "http_503"})
    assert again.calls == [], "a finished shard sends nothing, not even the failed request"
    assert store(tmp_path, llm=again).chat_batch("g1", again, prompts, max_tokens=9)[0] == ["ok", None, "ok"]
    assert len(again.calls) == 3, "other options: the batch is asked again"


def test_an_outage_stops_the_run_before_the_shard_is_saved(tmp_path):
    down = ScriptedLLM(lambda *a: Completion(error="connection"))
    shards = store(tmp_path, llm=down, max_failed_share=0.5)
    with pytest.raises(ShardFailureError, match="connection"):
        shards.chat_batch("g1", down, [[{"role": "user", "content": str(i)}] for i in range(4)])
    assert not (shards.path / "shards" / "g1.json").exists()
    flaky = ScriptedLLM(lambda conv, *a: Completion(error="http_500") if conv[-1]["content"] == "0" else "ok")
    shards = store(tmp_path, llm=flaky, max_failed_share=0.5)
    assert shards.chat_batch("g1", flaky, [[{"role": "user", "content": str(i)}] for i in range(4)])[1] == {0: "http_500"}
    assert json.loads((shards.path / "shards" / "g1.json").read_text())["value"]["failures"] == {"0": "http_500"}


def test_without_a_directory_nothing_is_written_and_finish_removes_unkept_folders(tmp_path):
    off = ShardCheckpoints.from_params({"dir": None}, "stage", "x")
    off.save("s0", 1)
    assert not off.enabled and off.load("s0") is None and off.summary()["shards_written"] == 1
    kept = ShardCheckpoints.from_params({"dir": str(tmp_path)}, "stage", "x", part="loop")
    kept.save("s0", 1)
    assert kept.path.parent == tmp_path / "loop"
    kept.finish()
    assert kept.path.exists()
    dropped = ShardCheckpoints.from_params({"dir": str(tmp_path), "keep": False}, "stage", "x", part="loop")
    assert dropped.load("s0") == 1
    dropped.finish()
    assert not dropped.path.exists()

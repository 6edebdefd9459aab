"""The record-level bad-input policy: ``validate_records`` and the ``Records`` a loader returns."""

import copy
import logging
import pickle

import pytest

from toolace_kedro.datasets import BadInputError, JSONLinesDataset, Records, locate, validate_records


def _positive(record):
    if not isinstance(record.get("n"), int):
        return "missing_n"
    return None if record["n"] > 0 else f"not_positive: n is {record['n']}"


@pytest.fixture
def loaded(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a", "n": 1}\n{"id": "b", "n": -2}\n{oops\n{"n": 3}\n{"id": "e"}\n')
    return path, JSONLinesDataset(filepath=str(path)).load()


def test_bad_records_are_skipped_and_counted_with_file_and_line(loaded, caplog):
    path, records = loaded
    with caplog.at_level(logging.WARNING):
        kept, report = validate_records(records, _positive, "numbers")
    assert kept == [{"id": "a", "n": 1}, {"n": 3}]
    assert report == {
        "dataset": "numbers", "source": str(path), "records": 5, "kept": 2, "skipped": 3,
        "by_reason": {"bad_json": 1, "not_positive": 1, "missing_n": 1},
        "examples": [f"{path}:3: bad_json: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
                     f"{path}:2 (id 'b'): not_positive: n is -2", f"{path}:5 (id 'e'): missing_n"]}
    assert f"skipped record at {path}:2 (id 'b'): not_positive" in caplog.text


def test_in_memory_records_are_located_by_index():
    kept, report = validate_records([{"n": 1}, {"n": 0}], _positive, "numbers")
    assert kept == [{"n": 1}] and report["source"] is None
    assert report["examples"] == ["numbers[1]: not_positive: n is 0"]
    assert locate(["x", {"id": 7}], 1, "things") == "things[1] (id 7)"


def test_all_bad_or_empty_input_is_a_one_line_error_naming_the_file(loaded):
    path, records = loaded
    with pytest.raises(BadInputError, match=rf"^numbers \({path}\): no usable record \(5 skipped .*first: {path}:3"):
        validate_records(records, lambda r: "rejected", "numbers")
    with pytest.raises(BadInputError, match=r"^numbers: no usable record \(the input is empty\)$"):
        validate_records([], _positive, "numbers")
    assert validate_records([], _positive, "numbers", allow_empty=True)[0] == []
    with pytest.raises(BadInputError, match="numbers: expected a list of records, got dict"):
        validate_records({"n": 1}, _positive, "numbers")


def test_on_error_raise_makes_a_bad_record_an_error(tmp_path, loaded):
    path = tmp_path / "strict.jsonl"
    path.write_text('{"n": 1}\n{"n": 0}\n')
    records = JSONLinesDataset(filepath=str(path), load_args={"on_error": "raise"}).load()
    with pytest.raises(BadInputError, match=rf"numbers \({path}\): bad record at {path}:2: not_positive: n is 0"):
        validate_records(records, _positive, "numbers")
    with pytest.raises(BadInputError, match=r"numbers\[1\]"):
        validate_records([{"n": 1}, {"n": 0}], _positive, "numbers", on_error="raise")


def test_records_survive_copies_and_pickling(loaded):
    _, records = loaded
    for twin in (copy.deepcopy(records), pickle.loads(pickle.dumps(records))):
        assert twin == records and twin.lines == records.lines and twin.skipped == records.skipped
        assert twin.source == records.source
    assert Records([1]).lines is None and validate_records(Records([{"n": 1}]), None, "x")[1]["skipped"] == 0

import pytest
from kedro.io import DatasetError, Version

from toolace_kedro.datasets import JSONLinesDataset


def test_round_trip_and_versioning(tmp_path):
    ds = JSONLinesDataset(filepath=str(tmp_path / "x.jsonl"), version=Version(None, "2026-01-01T00.00.00.000Z"))
    ds.save([{"a": 1}, {"b": "ü"}])
    assert (tmp_path / "x.jsonl" / "2026-01-01T00.00.00.000Z" / "x.jsonl").exists()
    assert JSONLinesDataset(filepath=str(tmp_path / "x.jsonl"), version=Version(None, None)).load() == [{"a": 1}, {"b": "ü"}]


def test_bad_lines_are_skipped_and_named(tmp_path, caplog):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\nnot json\n\n[1, 2]\n{"b": 2}\n{"truncated": \n')
    ds = JSONLinesDataset(filepath=str(path))
    assert ds.load() == [{"a": 1}, {"b": 2}]
    assert [p.split(": ")[0].rsplit(":", 1)[1] for p in ds.skipped] == ["2", "4", "6"]
    assert f"{path}:2" in caplog.text and "skipped 3 bad lines" in caplog.text


def test_raise_policy_names_file_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n{oops}\n')
    with pytest.raises(DatasetError, match=r"d\.jsonl:2"):
        JSONLinesDataset(filepath=str(path), load_args={"on_error": "raise"}).load()


def test_unusable_file_is_an_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\x00\xff garbage\nmore garbage\n")
    with pytest.raises(DatasetError, match="no readable JSON line"):
        JSONLinesDataset(filepath=str(path)).load()


def test_load_keeps_lines_and_skips_for_the_stage(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n\nnot json\n{"b": 2}\n')
    records = JSONLinesDataset(filepath=str(path)).load()
    assert records == [{"a": 1}, {"b": 2}] and isinstance(records, list)
    assert records.source == str(path) and records.lines == [1, 4] and records.on_error == "skip"
    assert [(s["at"], s["reason"]) for s in records.skipped] == [(f"{path}:3", "bad_json")]

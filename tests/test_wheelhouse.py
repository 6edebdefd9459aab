"""The offline install kit for a GPU host (``toolace_kedro.wheelhouse``): what is collected for a
host that already has CUDA torch, and files split into parts and rebuilt, checked. No network:
pip is scripted."""

import json
import tarfile

import pytest

from toolace_kedro import wheelhouse as wh

HOST = """torch==2.11.0+cu130
triton==3.6.0
nvidia-cublas==13.1.0.3
transformers==5.17.0
numpy==2.5.2
pandas==2.3.3
-e git+https://example.invalid/repo.git#egg=mine
local-thing @ file:///opt/local_thing-1.0-py3-none-any.whl
"""


def test_the_host_freeze_is_read_by_canonical_name():
    host = wh.read_freeze(HOST)
    assert host["torch"] == "2.11.0+cu130" and host["nvidia-cublas"] == "13.1.0.3" and host["local-thing"] == ""
    assert "mine" not in host and wh.public_version(host["torch"]) == "2.11.0"


def test_the_plan_keeps_the_host_framework_and_names_what_it_replaces():
    wanted, constraints, notes = wh.plan(["torch==2.13.0", "transformers==5.23.0", "kedro==1.7.0", "tqdm>=4.66"],
                                         wh.read_freeze(HOST))
    assert wanted == ["transformers==5.23.0", "kedro==1.7.0", "tqdm>=4.66"]  # no torch pin
    assert "torch==2.11.0" in constraints and "numpy==2.5.2" in constraints  # the host's versions held
    assert not any(c.startswith("transformers") for c in constraints)  # this project's pin wins
    assert any("torch: the host's 2.11.0+cu130 is kept" in n for n in notes)
    assert any("transformers==5.23.0 replaces the host's 5.17.0" in n for n in notes)


def _report(*packages):
    return {"install": [{"metadata": {"name": n, "version": v}} for n, v in packages]}


def test_only_what_the_host_lacks_is_collected():
    report = _report(("torch", "2.11.0"), ("nvidia-cudnn-cu13", "9.19.0.56"), ("Transformers", "5.23.0"),
                     ("numpy", "2.5.2"), ("kedro", "1.7.0"), ("pandas", "2.3.4"))
    assert wh.missing_from_host(report, wh.read_freeze(HOST)) == ["kedro==1.7.0", "pandas==2.3.4",
                                                                  "transformers==5.23.0"]


def test_collect_resolves_downloads_packs_and_splits(tmp_path):
    """A scripted pip: the first resolution (every host version held) fails, the second (the
    framework only) gives the report; the downloads write small wheels."""
    (tmp_path / "host.txt").write_text(HOST)
    calls = []

    def pip(args):
        calls.append(args)
        if args[0] == "install":
            constraints = (tmp_path / "seen_constraints.txt")
            constraints.write_text(wh.Path(args[args.index("-c") + 1]).read_text())
            if "numpy==2.5.2" in constraints.read_text():
                raise wh.subprocess.CalledProcessError(1, "pip")
            report = _report(("torch", "2.11.0"), ("kedro", "1.7.0"), ("numpy", "2.5.5"))
            wh.Path(args[args.index("--report") + 1]).write_text(json.dumps(report))
        else:
            dest = args[args.index("--dest") + 1]
            for requirement in [a for a in args if "==" in a]:
                name, version = requirement.split("==")
                (wh.Path(dest) / f"{name}-{version}-py3-none-any.whl").write_bytes(b"w" * 3000)

    parts = wh.collect(tmp_path / "host.txt", "3.12", ["manylinux_2_28_x86_64"], tmp_path / "out", [], 4096, pip=pip)
    assert [c[0] for c in calls] == ["install", "install", "download", "download"]
    assert (tmp_path / "seen_constraints.txt").read_text().split() == ["nvidia-cublas==13.1.0.3", "torch==2.11.0",
                                                                        "triton==3.6.0"]
    assert calls[2][-2:] == ["kedro==1.7.0", "numpy==2.5.5"] and "--platform" in calls[2]
    assert calls[3][-2:] == list(wh.NO_DEPS)
    assert len(parts) > 1 and all(p.stat().st_size <= 4096 for p in parts)
    archive = wh.join(tmp_path / "out" / "wheelhouse.tar")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"wheelhouse/requirements.txt", "wheelhouse/no-deps.txt", "wheelhouse/kedro-1.7.0-py3-none-any.whl"} <= names
    assert (tmp_path / "out" / "wheelhouse" / "requirements.txt").read_text().split() == ["kedro==1.7.0",
                                                                                          "numpy==2.5.5"]


def test_a_file_split_in_parts_is_rebuilt_and_a_damaged_part_is_named(tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(bytes(range(256)) * 41)  # 10,496 bytes
    parts = wh.split(model, wh.size("4K"))
    assert [p.name for p in parts] == [f"model.safetensors.part-00{i}" for i in range(3)]
    original = model.read_bytes()
    model.unlink()
    assert wh.join(model).read_bytes() == original
    parts[1].write_bytes(b"x" + parts[1].read_bytes()[1:])
    with pytest.raises(ValueError, match=r"part .*part-001 is damaged"):
        wh.join(model)
    parts[1].unlink()
    with pytest.raises(FileNotFoundError, match=r"part-001 is missing \(3 parts expected\)"):
        wh.join(model)


def test_sizes():
    assert (wh.size("60M"), wh.size("1G"), wh.size("4096"), wh.size("2KiB")) == (60 << 20, 1 << 30, 4096, 2048)
    with pytest.raises(Exception, match="not a size"):
        wh.size("lots")

"""``ModelDirectoryDataset``: a model (LoRA adapter or full model) as a versioned directory.

kedro-datasets has no dataset around ``save_pretrained``/``from_pretrained``; this one stores what
a training node returns and hands consumers the directory, so they load it the way they need
(``models.load_policy(base, adapter=path)`` for an adapter, ``load_policy(path)`` for a merged
model, vLLM's ``--lora-modules name=path``, ...).

``save(obj)`` accepts

* anything with ``save_pretrained(directory)`` — a PEFT model writes its adapter files
  (``adapter_config.json``, ``adapter_model.safetensors``), a transformers model its full weights;
* a dict ``{"model": m, "tokenizer": t}`` (the tokenizer optional) — both saved into the directory;
* a ``str``/``os.PathLike`` naming an existing local directory — copied (a model trained in another
  process, e.g. under ``accelerate launch``, without loading it again).

The files are written into a temporary sibling directory and moved into place with one atomic
rename, so a killed save never leaves a half-written version that a later ``load`` would pick.
``load()`` returns the local directory of the version as ``str``. Local filesystems only: for
object stores, sync the directory (``aws s3 sync``) or point ``filepath`` at a mounted path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_protocol_and_path

__all__ = ["ModelDirectoryDataset"]


class ModelDirectoryDataset(AbstractVersionedDataset[Any, str]):
    """Versioned directory written with ``save_pretrained``; ``load`` gives its path.

    Catalog example::

        sft_adapter:
          type: toolace_kedro.datasets.ModelDirectoryDataset
          filepath: data/06_models/sft_adapter
          versioned: true
          save_args: {safe_serialization: true}   # passed to save_pretrained
    """

    def __init__(
        self,
        *,
        filepath: str | os.PathLike,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(str(filepath), version)
        if protocol != "file":
            raise DatasetError(f"ModelDirectoryDataset stores local directories only, got {filepath!r} "
                               f"(protocol {protocol!r}); sync remote copies outside Kedro")
        self._save_args = dict(save_args or {})
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version,
                         exists_function=os.path.isdir, glob_function=_glob_dirs)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version, "save_args": self._save_args}

    def load(self) -> str:
        path = Path(str(self._get_load_path()))
        if not path.is_dir():
            raise DatasetError(f"model directory {path} does not exist")
        return str(path)

    def save(self, data: Any) -> None:
        target = Path(str(self._get_save_path()))
        if target.exists():
            raise DatasetError(f"model directory {target} already exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            self._write(data, staging)
            if not any(staging.iterdir()):
                raise DatasetError(f"saving {type(data).__name__} to {target} wrote no files")
            os.replace(staging, target)  # atomic on one filesystem
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _write(self, data: Any, directory: Path) -> None:
        if isinstance(data, (str, os.PathLike)):
            source = Path(data)
            if not source.is_dir():
                raise DatasetError(f"cannot save {source}: not a directory")
            shutil.copytree(source, directory, dirs_exist_ok=True)
        elif isinstance(data, dict):
            if "model" not in data:
                raise DatasetError(f"a dict to save needs a 'model' key, got keys {sorted(data)}")
            unknown = set(data) - {"model", "tokenizer"}
            if unknown:
                raise DatasetError(f"unexpected keys {sorted(unknown)}: expected 'model' and optional 'tokenizer'")
            _save_pretrained(data["model"], directory, self._save_args)
            if data.get("tokenizer") is not None:
                _save_pretrained(data["tokenizer"], directory, {})
        else:
            _save_pretrained(data, directory, self._save_args)

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:
            return False
        return os.path.isdir(str(path))


def _save_pretrained(obj: Any, directory: Path, save_args: dict[str, Any]) -> None:
    if not callable(getattr(obj, "save_pretrained", None)):
        raise DatasetError(f"cannot save a {type(obj).__name__}: it has no save_pretrained(directory) "
                           "(pass a model, a {'model', 'tokenizer'} dict, or a directory path)")
    obj.save_pretrained(str(directory), **save_args)


def _glob_dirs(pattern: str) -> list[str]:
    from glob import glob

    return [p for p in glob(pattern) if os.path.isdir(p)]

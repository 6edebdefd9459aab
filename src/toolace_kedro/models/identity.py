"""What identifies a model's weights, for response-cache keys: cached answers of other weights
are never reused."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["weight_files", "weights_digest", "weights_stamp"]


def weight_files(folder: str | Path) -> list[Path]:
    """The weight files of a model or adapter directory (safetensors, else PyTorch pickles)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))


def weights_digest(folder: str | Path) -> str:
    """SHA-256 over the weight files' names and contents (for adapters, which are small enough
    to read); an empty string where the directory holds no weight file."""
    files = weight_files(folder)
    if not files:
        return ""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def weights_stamp(folder: str | Path) -> str:
    """The weight files' names, sizes and modification seconds: cheap for whole models."""
    return ",".join(f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weight_files(folder))

"""The configuration reference page (``docs/configuration_reference.md``), generated from the
parameter models (``hooks.PARAMETER_MODELS``): every key with its type, the model's default, the
values ``conf/base``, ``conf/paper`` and ``conf/gpu`` set, and the field's description.

``python -m toolace_kedro.params_reference`` rewrites the page; a test fails while it is stale.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from toolace_kedro.hooks import PARAMETER_MODELS
from toolace_kedro.hooks import parameter_model as model_class

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration_reference.md"
_UNSET = object()

HEADER = """# Configuration reference

Generated from the parameter models by `python -m toolace_kedro.params_reference`; do not edit by
hand (a test fails while this page differs from the models). One table per block of
`conf/<env>/parameters*.yml`: the key (nested blocks as dotted paths), its type, the model's
default, what `conf/base`, `conf/paper` and `conf/gpu` set where they set it (`--env paper` and
`--env gpu` also read `conf/base`), and what it does. An unknown key or a bad value stops `kedro run` before the first
node ([Configuration](configuration.md)).
"""


def _submodel(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def type_name(annotation: Any) -> str:
    """A short reader's name of a field's type: ``int``, ``str | null``, ``"a" | "b"``, ``list[str]``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]" if inner else origin.__name__
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _value(value: Any) -> str:
    if value is _UNSET:
        return ""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return f"`{json.dumps(value, default=str)}`"


def _lookup(tree: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return _UNSET
        tree = tree[key]
    return tree


def rows(model: type[BaseModel], prefix: list[str] | None = None) -> Iterator[tuple[list[str], Any, Any, str]]:
    """``(key path, annotation, default, description)`` of every leaf field; a field whose type is a
    model is walked into."""
    for name, info in model.model_fields.items():
        path = [*(prefix or []), name]
        sub = _submodel(info.annotation)
        if sub is not None:
            yield from rows(sub, path)
            continue
        default = info.get_default(call_default_factory=True)
        yield path, info.annotation, default, (info.description or "").strip()


def conf_blocks(env: str) -> dict[str, Any]:
    """The parameter blocks ``conf/<env>/parameters*.yml`` set (top-level key → value)."""
    blocks: dict[str, Any] = {}
    for path in sorted((ROOT / "conf" / env).glob("parameters*.yml")):
        blocks.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return blocks


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole page."""
    envs = [conf_blocks(env) for env in ("base", "paper", "gpu")]
    parts = [HEADER]
    for block in PARAMETER_MODELS:
        model = model_class(block)
        doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
        parts += [f"\n## `{block}`\n", f"{doc} (`{model.__module__}.{model.__name__}`)\n" if doc else "",
                  "| key | type | default | conf/base | conf/paper | conf/gpu | description |",
                  "|---|---|---|---|---|---|---|"]
        for path, annotation, default, description in rows(model):
            parts.append("| " + " | ".join(_cell(c) for c in (
                f"`{'.'.join(path)}`", type_name(annotation), _value(default),
                *(_value(_lookup(env.get(block), path)) for env in envs), description)) + " |")
    return "\n".join(p for p in parts if p != "") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the page (``--check``: only say whether it is current; exit 1 when not)."""
    text = render()
    if "--check" in (argv if argv is not None else sys.argv[1:]):
        current = PAGE.exists() and PAGE.read_text(encoding="utf-8") == text
        print(f"{PAGE.relative_to(ROOT)} is {'current' if current else 'stale: run python -m toolace_kedro.params_reference'}")
        return 0 if current else 1
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""BFCL's function documents in its ``python`` and ``xml`` formats (the ``func_doc_fmt`` of a
prompt format; ``json`` is ``json.dumps(functions, indent=4)``), as bfcl-eval 2026.3.23 writes
them into the system prompt -- the text is compared with bfcl-eval's own in the evaluation tests.

* ``python``: per function a ``# Function: <name>`` line and a docstring-like block with the
  description and an ``Args:`` section (parameter lines ``name (type[, default=repr]): description``,
  nested properties indented four more spaces). Types: string/number/integer/boolean become
  str/float/int/bool, an array, list or tuple with ``items`` ``list[<item type>]``, an object or
  dict ``dict`` (``dict[str, <type>]`` with ``additionalProperties``); any other type keeps its
  name (BFCL's ``float``, ``any``, ``tuple`` without items ...). Each block is followed by an empty
  part and all parts are joined by a blank line, as BFCL does.
* ``xml``: ``<function name="...">`` with ``<desc>`` and ``<params>``; each ``<param name type
  required [default]>`` holds a ``<desc>`` and, for an object with properties, nested ``<params>``.
  ``required`` is "true" when the schema has no ``required`` list. An enum is appended to the
  description (``Enum values: [...]``). BFCL removes every comma from a parameter's attributes,
  a default's ``repr`` included (``[1, 2]`` becomes ``[1 2]``), and escapes nothing: the document
  is prompt text, not XML to be parsed.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["function_doc", "python_function_doc", "xml_function_doc"]

#: JSON-schema type names BFCL writes as Python type names
_PYTHON_NAMES = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"}
_DOC_INDENT = " " * 8  # parameter lines inside the docstring block


def _python_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "string")
    if kind in _PYTHON_NAMES:
        return _PYTHON_NAMES[kind]
    if kind in ("array", "list", "tuple") and "items" in schema:
        return f"list[{_python_type(schema['items'])}]"
    if kind in ("object", "dict"):
        return f"dict[str, {_python_type(schema['additionalProperties'])}]" if "additionalProperties" in schema \
            else "dict"
    return kind


def _python_param(name: str, schema: dict[str, Any], depth: int) -> list[str]:
    description = schema.get("description", "")
    if "enum" in schema:
        description += f" Enum values: {schema['enum']}."
    default = f", default={schema['default']!r}" if "default" in schema else ""
    lines = [f"{_DOC_INDENT}{' ' * 4 * depth}{name} ({_python_type(schema)}{default}): {description}\n"]
    if "properties" in schema:
        for child, child_schema in schema["properties"].items():
            lines += _python_param(child, child_schema, depth + 1)
    return lines


def python_function_doc(functions: list[dict[str, Any]]) -> str:
    """The functions as BFCL's ``python`` function document."""
    parts = []
    for function in functions:
        block = [f"# Function: {function['name']}\n", '    """\n', f"    {function.get('description', '')}\n\n"]
        properties = function.get("parameters", {}).get("properties", {})
        if properties:
            block.append("    Args:\n")
            for name, schema in properties.items():
                block += _python_param(name, schema, 0)
        block.append('    """\n')
        parts += ["".join(block), "\n"]
    return "\n\n".join(parts)


def _xml_param(name: str, schema: dict[str, Any], required: list[str] | None, level: int) -> str:
    indent = "  " * level
    kind = schema.get("type", "string")
    description = schema.get("description", "")
    if "enum" in schema:
        description += f" Enum values: {schema['enum']}."
    if "items" in schema and "type" in schema["items"]:
        kind = f"{kind}[{schema['items']['type']}]"
    elif "additionalProperties" in schema:
        kind = f"{kind}[{schema['additionalProperties'].get('type', 'string')}]"
    flag = "true" if required is None or name in required else "false"
    attributes = f'name="{name}" type="{kind}" required="{flag}"'
    if "default" in schema:
        attributes += f' default="{schema["default"]!r}"'
    text = f"{indent}<param {attributes.replace(',', '')}>\n{indent}  <desc>{description}</desc>\n"
    if "properties" in schema:
        text += f"{indent}  <params>\n"
        text += "".join(_xml_param(child, child_schema, schema.get("required"), level + 2)
                        for child, child_schema in schema["properties"].items())
        text += f"{indent}  </params>\n"
    return text + f"{indent}</param>\n"


def xml_function_doc(functions: list[dict[str, Any]]) -> str:
    """The functions as BFCL's ``xml`` function document."""
    blocks = []
    for function in functions:
        parameters = function["parameters"]
        params = "".join(_xml_param(name, schema, parameters.get("required"), 2)
                         for name, schema in parameters.get("properties", {}).items())
        blocks.append(f'<function name="{function["name"]}">\n  <desc>{function.get("description", "")}</desc>\n'
                      f"  <params>\n{params}  </params>\n</function>\n")
    return "\n".join(blocks)


def function_doc(functions: list[dict[str, Any]], doc_format: str) -> str:
    """The functions as BFCL lists them in a prompt whose ``func_doc_fmt`` is ``doc_format``."""
    if doc_format == "json":
        return json.dumps(functions, indent=4)
    if doc_format == "python":
        return python_function_doc(functions)
    if doc_format == "xml":
        return xml_function_doc(functions)
    raise ValueError(f"func_doc_fmt must be json, python or xml, got {doc_format!r}")

"""BFCL's simulated multi-turn backends, driven by decoded calls -- never by ``eval``.

BFCL's own executor (``multi_turn_utils.execute_multi_turn_func_call``) rewrites each call string
so that known method names point at a backend instance and then ``eval``\\ s it in a module that
also sees Python's builtins: a model output such as ``[open(file='x', mode='w')]`` or a nested call
would run. Here a call reaches a backend only as data:

* **decoding** (:func:`decode_step`) follows BFCL's prompt-mode ``decode_execute`` (strip
  backticks, newlines and spaces from both ends, add a missing ``[``/``]``, parse one Python list
  whose elements are all calls, ignore positional arguments, read ``-`` before a number -- or any
  unary operator, as BFCL does -- as a negative number) but reads argument values as literals only:
  strings, numbers, booleans, ``None``, lists, tuples and dicts. A value BFCL would read as the
  text of a name or of a call, evaluate (arithmetic) or turn into a nested call, and a callee that
  is not a name or dotted name, make the whole step undecodable: nothing of it runs.
* **dispatch** (:class:`BackendSession`): a decoded call runs only when its name is one of the
  *allow-list* -- the public methods defined on an involved backend class (no underscore names, no
  dunders, no dotted paths, no builtins). Another name is refused without running anything and
  answered with the error text BFCL's ``eval`` gives such a name (``name 'os' is not defined``;
  ``Function call exit is not allowed.`` for the names BFCL blocks itself), so the policy and the
  checker see what BFCL would show. The step's other calls still run, as in BFCL.
* **cost**: an allowed MathAPI call whose literal arguments make it run without bound (an integer
  power with a huge result, a huge precision) is refused too; MathAPI's process-wide decimal and
  ``mpmath`` precisions are restored after every call.
* **results** are what BFCL returns: a string as it is, a dict as JSON (its ``str`` if not
  serialisable), anything else as ``str``; an exception as ``Error during execution: <message>``.

Backends are the wheel's classes, named in :data:`BACKENDS` (class -> module), created and loaded
as BFCL does: ``cls()`` then, unless stateless, ``_load_scenario(deepcopy(initial_config[cls]),
long_context=...)``. Their modules (``bfcl_eval.eval_checker.multi_turn_eval.func_source_code``)
import only the standard library and ``mpmath``, not the provider SDKs.
"""

from __future__ import annotations

import ast
import copy
import decimal
import importlib
import inspect
import json
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath

__all__ = ["BACKENDS", "BFCL_BLOCKED", "ERROR_PREFIX", "MAX_POWER_BITS", "MAX_PRECISION", "STATELESS",
           "BackendSession", "Call", "StepDecodeError", "StepOutcome", "allowed_methods", "backend_class",
           "decode_call", "decode_step", "format_result"]

_PACKAGE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
#: The backend classes of BFCL's multi-turn categories and the wheel module of each.
BACKENDS: dict[str, str] = {
    "GorillaFileSystem": "gorilla_file_system", "MathAPI": "math_api", "MessageAPI": "message_api",
    "TwitterAPI": "posting_api", "TicketAPI": "ticket_api", "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking", "VehicleControlAPI": "vehicle_control"}
#: Classes BFCL creates without loading a scenario.
STATELESS = frozenset({"MathAPI"})
#: Names BFCL's executor refuses by name before its ``eval``.
BFCL_BLOCKED = frozenset({"kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run"})
ERROR_PREFIX = "Error during execution: "
_MAX_TEXT = 1_000_000
#: Bounds on MathAPI arguments that make its computation unbounded (BFCL would run such a call):
#: the bits of an integer power's result, and the digits of a precision.
MAX_POWER_BITS = 1 << 20
MAX_PRECISION = 10_000


class StepDecodeError(ValueError):
    """A step's text is not a list of calls with literal arguments."""


@dataclass(frozen=True)
class Call:
    """One decoded call: ``args`` only for ground-truth calls (model outputs' positional
    arguments are ignored, as BFCL ignores them)."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()

    def render(self) -> str:
        """The call as BFCL's decoder writes it (``name(a='x', b=1)``): the tool message's name."""
        parts = [_render(a) for a in self.args] + [f"{k}={_render(v)}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


def _render(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"'{k}': {_render(v)}" for k, v in value.items()) + "}"
    return repr(value)


# --------------------------------------------------------------------------- decoding
def _literal(node: ast.AST, top: bool) -> Any:
    """A literal value; ``top``: a keyword's value or a dict value below it, where BFCL re-renders
    dicts itself (keys as quoted text, a dict of dicts as a nested call)."""
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        try:
            return -node.operand.value
        except TypeError:
            raise StepDecodeError(f"operator on a {type(node.operand.value).__name__}") from None
    if isinstance(node, ast.List):
        return [_literal(e, False) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e, False) for e in node.elts)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise StepDecodeError("'**' inside a dict")
        keys = [_literal(k, False) for k in node.keys]
        values = [_literal(v, top) for v in node.values]
        if top:
            if all(isinstance(v, dict) for v in values):  # BFCL reads it as a nested call
                raise StepDecodeError("a dict of dicts (BFCL runs it as a nested call)")
            if any(set(str(k)) & {"'", "\\", "\n"} for k in keys):
                raise StepDecodeError("a dict key BFCL cannot write back")
            keys = [str(k) for k in keys]
        try:
            return dict(zip(keys, values))
        except TypeError:
            raise StepDecodeError("unhashable dict key") from None
    raise StepDecodeError(f"{type(node).__name__} is not a literal")


def _callee(node: ast.Call) -> str:
    parts, func = [], node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        raise StepDecodeError(f"the callee is a {type(func).__name__}, not a name")
    return ".".join([func.id, *reversed(parts)])


def _parse(text: str) -> ast.AST:
    if len(text) > _MAX_TEXT:
        raise StepDecodeError(f"{len(text)} characters exceed {_MAX_TEXT}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in model strings
            return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as exc:
        raise StepDecodeError(f"not a Python expression: {exc}") from None


def decode_step(text: str) -> list[Call]:
    """The calls of one model step, decoded as BFCL's prompt-mode ``decode_execute`` decodes them
    but with literal argument values only (see the module docstring); ``StepDecodeError`` else."""
    if not isinstance(text, str):
        raise StepDecodeError(f"the output is a {type(text).__name__}, not text")
    body = text.strip("`\n ")
    body = ("" if body.startswith("[") else "[") + body + ("" if body.endswith("]") else "]")
    node = _parse(body)
    if not isinstance(node, ast.List):
        raise StepDecodeError(f"expected a list of calls, got a {type(node).__name__}")
    calls = []
    for index, element in enumerate(node.elts):
        if not isinstance(element, ast.Call):
            raise StepDecodeError(f"element {index} is a {type(element).__name__}, not a call")
        if any(kw.arg is None for kw in element.keywords):
            raise StepDecodeError(f"call {index} unpacks '**' arguments")
        try:
            calls.append(Call(_callee(element), {kw.arg: _literal(kw.value, True) for kw in element.keywords}))
        except RecursionError:
            raise StepDecodeError(f"call {index} is nested too deeply") from None
    return calls


def decode_call(source: str) -> Call:
    """One ground-truth call string (``sort('final_report.pdf')``): positional arguments kept."""
    node = _parse(source)
    if not isinstance(node, ast.Call):
        raise StepDecodeError(f"{source!r} is not a call")
    if any(kw.arg is None for kw in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
        raise StepDecodeError(f"{source!r} unpacks arguments")
    return Call(_callee(node), {kw.arg: _literal(kw.value, False) for kw in node.keywords},
                tuple(_literal(a, False) for a in node.args))


# --------------------------------------------------------------------------- execution
@cache
def backend_class(class_name: str) -> type:
    """The wheel's backend class named ``class_name`` (only those of :data:`BACKENDS`)."""
    if class_name not in BACKENDS:
        raise ValueError(f"unknown BFCL backend class {class_name!r}; expected one of {', '.join(BACKENDS)}")
    return getattr(importlib.import_module(f"{_PACKAGE}.{BACKENDS[class_name]}"), class_name)


@cache
def allowed_methods(class_name: str) -> frozenset[str]:
    """The allow-list of a backend class: functions defined in its body, without a leading underscore."""
    cls = backend_class(class_name)
    return frozenset(name for name, value in vars(cls).items()
                     if inspect.isfunction(value) and name.isidentifier() and not name.startswith("_"))


def format_result(value: Any) -> str:
    """An execution result as BFCL returns it to the model and the checker."""
    if type(value) is str:
        return value
    if type(value) is dict:
        try:
            return json.dumps(value)
        except (TypeError, ValueError, OverflowError, RecursionError):
            return str(value)
    return str(value)


def _unbounded(method: Any, call: Call) -> str | None:
    """Why a MathAPI call would run without bound (an integer power with a huge result, a huge
    precision), or None; such a call is answered with an error instead of running."""
    try:
        arguments = inspect.signature(method).bind(*call.args, **call.kwargs).arguments
    except TypeError:
        return None  # the call itself raises the error BFCL shows
    base, exponent, precision = (arguments.get(k) for k in ("base", "exponent", "precision"))
    if call.name == "power" and isinstance(base, int) and isinstance(exponent, int) and exponent > 0 \
            and exponent * max(abs(base).bit_length(), 1) > MAX_POWER_BITS:
        return f"the result of {base!r:.20} ** {exponent} exceeds {MAX_POWER_BITS} bits"
    if call.name in ("square_root", "logarithm") and isinstance(precision, int) and precision > MAX_PRECISION:
        return f"a precision of {precision} exceeds {MAX_PRECISION} digits"
    return None


def _refusal(name: str) -> str:
    """The error BFCL's ``eval`` gives a name outside the backends' methods."""
    key = name.split(".")[1] if "." in name else name
    if key in BFCL_BLOCKED:
        return f"{ERROR_PREFIX}Function call {key} is not allowed."
    return f"{ERROR_PREFIX}name {name.split('.')[0]!r} is not defined"


@dataclass
class StepOutcome:
    """One model step: its decoded calls (None when undecodable), the results, the refused names."""

    calls: list[Call] | None
    results: list[str]
    refused: list[str]
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.calls is None or bool(self.refused)


class BackendSession:
    """The instances of one entry's involved classes, loaded with its initial configuration; they
    keep their state from call to call and turn to turn."""

    def __init__(self, involved_classes: list[str], initial_config: dict[str, Any] | None = None,
                 long_context: bool = False) -> None:
        self.instances: dict[str, Any] = {}
        self._owner: dict[str, str] = {}
        for class_name in involved_classes:
            instance = backend_class(class_name)()
            if class_name not in STATELESS:
                instance._load_scenario(copy.deepcopy((initial_config or {}).get(class_name, {})),
                                        long_context=long_context)
            self.instances[class_name] = instance
            for method in allowed_methods(class_name):
                self._owner[method] = class_name  # a later class wins a shared name, as in BFCL

    @classmethod
    def for_entry(cls, entry: dict[str, Any]) -> BackendSession:
        """A session for a BFCL entry (long-context data loaded for the ``long_context`` category)."""
        category = str(entry.get("id", "")).rsplit("_", 1)[0]
        return cls(entry["involved_classes"], entry.get("initial_config") or {},
                   long_context="long_context" in category or "composite" in category)

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self._owner)

    def execute(self, calls: list[Call]) -> list[str]:
        """Run each call on its backend; one result string per call."""
        return [self._run(call)[0] for call in calls]

    def execute_one(self, call: Call) -> str:
        """Run one call; its result string (an error text for a refused call)."""
        return self._run(call)[0]

    def _run(self, call: Call) -> tuple[str, bool]:
        """``(result, refused)``: refused calls never reach a backend."""
        owner = self._owner.get(call.name)
        if owner is None:
            return _refusal(call.name), True
        method = getattr(self.instances[owner], call.name)
        problem = _unbounded(method, call) if owner == "MathAPI" else None
        if problem:
            return f"{ERROR_PREFIX}{problem}", True
        precision, digits = decimal.getcontext().prec, mpmath.mp.dps  # MathAPI sets both process-wide
        try:
            return format_result(method(*call.args, **call.kwargs)), False
        except Exception as exc:  # noqa: BLE001 - the backend's own error, shown to the model as BFCL shows it
            return f"{ERROR_PREFIX}{exc}", False
        finally:
            decimal.getcontext().prec, mpmath.mp.dps = precision, digits

    def step(self, text: str) -> StepOutcome:
        """Decode one model step and run its allowed calls."""
        try:
            calls = decode_step(text)
        except StepDecodeError as exc:
            return StepOutcome(None, [], [], str(exc))
        runs = [self._run(call) for call in calls]
        return StepOutcome(calls, [r for r, _ in runs], [c.name for c, (_, refused) in zip(calls, runs) if refused])

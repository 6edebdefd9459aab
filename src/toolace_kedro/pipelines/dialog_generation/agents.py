"""The three agents of ToolACE's Self-Guided Dialog Generation, as prompts + JSON schemas over
one LLM client: the *user* asks (and supplies missing information), the *assistant* thinks
(formalized thinking: which API, which arguments, what is missing) and then acts, the *tool*
simulates an execution result that fits the API's ``returns`` schema (nothing is executed).

The assistant's action space is steered by the dialog's target type: the grammar of a call
phase only admits calls to the target APIs, with arguments constrained by each API's parameter
schema, and the number of calls the type needs; ask/answer phases admit text. Small models
cannot be trusted to pick the action type themselves; the choice of API among the candidates
shown, the argument values and the wording remain the model's.
"""

from __future__ import annotations

import itertools
import json
import math
import zlib
from typing import Any

from toolace_kedro.llm.transformers_backend import bound_schema
from toolace_kedro.toolcalls.words import content_words

#: bounds on agent-written strings and arrays: a small model tends to fill a string up to its
#: bound, so these bounds set the token cost of every argument and result value
_MAX_STRING, _MAX_ITEMS = 24, 2

_TYPE_INSTRUCTION = {
    "single": "Write a request that needs the function {targets}.",
    "parallel": "Write one message with two separate requests, each handled by {targets}.",
    "dependent": "Write a request where {first} must be used first and its result is needed to use {second}.",
    "non_tool": "Write a question or small talk that none of these functions can help with.",
    "clarify": "Write a request that needs {targets}, but do not give the {missing}.",
    "multi_turn": "Write a request that needs the function {targets}.",  # (its follow-ups: follow_up.py)
}
_VALUES_INSTRUCTION = " First choose realistic values, then write the request so that it states every value."
_ADJUST = {
    "harder": " Make it longer and more specific, and word it in your own way, not like the function description.",
    "simpler": " Keep it short, plain and direct.",
}


def _api(name: str, description: str, required: dict[str, str], optional: dict[str, str] | None = None) -> dict:
    props = {k: {"type": t} for k, t in {**required, **(optional or {})}.items()}
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": list(required)}}


_WEATHER = _api("get_forecast", "Weather forecast for a city.", {"city": "string"}, {"days": "integer"})
_FLIGHTS = _api("search_flights", "Find flights between two airports on a date.",
                {"origin": "string", "destination": "string", "date": "string"})
_RATES = _api("exchange_rate", "Current exchange rate between two currencies.", {"base": "string", "target": "string"})
_CONVERT = _api("convert_amount", "Convert an amount with a given exchange rate.", {"amount": "number", "rate": "number"})
_RECIPES = _api("find_recipes", "Search recipes by ingredient.", {"ingredient": "string"}, {"max_minutes": "integer"})
_TABLE = _api("book_table", "Reserve a table at a restaurant.", {"restaurant": "string", "time": "string", "people": "integer"})

_LOAN = _api("loan_payment", "Monthly payment of a fixed-rate loan.",
              {"principal": "number", "annual_rate": "number", "years": "integer"})
_STANDINGS = _api("team_standings", "League position and points of a team in a season.",
                  {"team": "string", "season": "integer"})
_UNITS = _api("convert_units", "Convert a quantity between units of measure.",
              {"value": "number", "from_unit": "string", "to_unit": "string"})
_QUOTE = _api("closing_price", "Closing price of a stock on a trading day.", {"symbol": "string", "day": "string"})
_DELIVERY = _api("track_delivery", "Delivery status of a shipment by its tracking code.", {"tracking_code": "string"},
                 {"carrier": "string"})
_TRANSLATE = _api("translate_text", "Translate a text into another language.",
                  {"text": "string", "target_language": "string"})
_HOTELS = _api("find_hotels", "Hotels in a city below a nightly price.", {"city": "string", "max_price": "integer"},
               {"stars": "integer"})
_PLAYLIST = _api("add_to_playlist", "Add a song to one of the user's playlists.", {"song": "string", "playlist": "string"})

#: worked examples per dialog type (our own writing), one shown to the user agent before its task
#: (drawn by the dialog's id): a 135M model writes function-call syntax instead of a user's words
#: without one, and copies its example's wording (hence several per type, questions and commands)
_EXAMPLES = {
    "single": [
        ({"type": "single", "targets": ["search_flights"], "tools": [_FLIGHTS, _RECIPES]},
         {"values": {"origin": "Lisbon", "destination": "Warsaw", "date": "2025-06-12"},
          "request": "Can you look for flights from Lisbon to Warsaw on 2025-06-12?"}),
        ({"type": "single", "targets": ["loan_payment"], "tools": [_LOAN]},
         {"values": {"principal": 18000, "annual_rate": 4.5, "years": 5},
          "request": "What would I pay each month on a loan of 18000 at 4.5 percent over 5 years?"}),
        ({"type": "single", "targets": ["team_standings"], "tools": [_STANDINGS, _WEATHER]},
         {"values": {"team": "Ajax", "season": 2021},
          "request": "Where did Ajax finish in the league in 2021?"}),
        ({"type": "single", "targets": ["closing_price"], "tools": [_QUOTE, _DELIVERY]},
         {"values": {"symbol": "NVDA", "day": "2024-11-08"},
          "request": "Get me the closing price of NVDA on 2024-11-08."}),
        ({"type": "single", "targets": ["track_delivery"], "tools": [_DELIVERY, _TRANSLATE]},
         {"values": {"tracking_code": "JD0148822", "carrier": "DHL"},
          "request": "Where is my package JD0148822? It was sent with DHL."}),
        ({"type": "single", "targets": ["translate_text"], "tools": [_TRANSLATE]},
         {"values": {"text": "good morning", "target_language": "Spanish"},
          "request": "Translate good morning into Spanish."}),
        ({"type": "single", "targets": ["find_hotels"], "tools": [_HOTELS, _RECIPES]},
         {"values": {"city": "Porto", "max_price": 120},
          "request": "I'm looking for hotels in Porto under 120 a night."}),
        ({"type": "single", "targets": ["add_to_playlist"], "tools": [_PLAYLIST, _UNITS]},
         {"values": {"song": "Blue Monday", "playlist": "Running"},
          "request": "Add Blue Monday to my Running playlist."}),
    ],
    "parallel": [
        ({"type": "parallel", "targets": ["get_forecast"], "tools": [_WEATHER, _TABLE]},
         {"values": {"first": {"city": "Osaka"}, "second": {"city": "Lima"}},
          "request": "What's the weather going to be in Osaka, and in Lima?"}),
        ({"type": "parallel", "targets": ["convert_units"], "tools": [_UNITS]},
         {"values": {"first": {"value": 12, "from_unit": "mile", "to_unit": "km"},
                     "second": {"value": 70, "from_unit": "kg", "to_unit": "pound"}},
          "request": "Convert 12 mile to km, and also 70 kg to pound."}),
    ],
    "dependent": [
        ({"type": "dependent", "targets": ["exchange_rate", "convert_amount"], "tools": [_RATES, _CONVERT]},
         {"values": {"base": "CHF", "target": "EUR"},
          "request": "I have 250 Swiss francs (CHF). What is the rate to EUR, and how much is that in euros?"}),
    ],
    "non_tool": [
        ({"type": "non_tool", "targets": [], "tools": [_RECIPES, _FLIGHTS]},
         {"request": "Why do onions make people cry when they cut them?"}),
        ({"type": "non_tool", "targets": [], "tools": [_LOAN]},
         {"request": "Can you recommend a good book about the history of Rome?"}),
    ],
    "clarify": [
        ({"type": "clarify", "targets": ["book_table"], "missing": "time", "tools": [_TABLE, _WEATHER]},
         {"values": {"restaurant": "Casa Lola", "people": 4},
          "request": "Please book a table for 4 people at Casa Lola."}),
        ({"type": "clarify", "targets": ["loan_payment"], "missing": "years", "tools": [_LOAN]},
         {"values": {"principal": 9500, "annual_rate": 3.9},
          "request": "How much is the monthly payment for 9500 borrowed at 3.9 percent?"}),
    ],
}
_EXAMPLES["multi_turn"] = _EXAMPLES["single"]  # a multi_turn dialog opens with a single-call request


def _example(plan: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The worked example for ``plan``: one of its type's, drawn by the dialog's id (seeded)."""
    options = _EXAMPLES[plan["type"]]
    return options[zlib.crc32(str(plan.get("id", "")).encode()) % len(options)]


_SCALARS = ("string", "integer", "number", "boolean")


def _value_schema(api: dict[str, Any], leave_out: str | None = None) -> dict[str, Any] | None:
    """Schema of the values a user states for a call of ``api``: its required scalar parameters
    (or its first two scalar ones when none is required), typed and bounded like the
    assistant's arguments. (Planning the leaves of object and array parameters too was
    measured: it hardly changed how often the call samples agree -- a 135M model miscopies such
    values as often as it invents them -- and each kept dialog took longer; benchmarks/README.md.)"""
    props = api["parameters"].get("properties", {})
    scalar = {n for n, p in props.items() if p.get("type") in _SCALARS}
    names = [n for n in api["parameters"].get("required", []) if n in scalar] or [n for n in props if n in scalar][:2]
    names = [n for n in names if n != leave_out][:3]  # (values of array/object parameters are not planned)
    if not names:
        return None
    return {"type": "object", "properties": {n: bound_schema(props[n], _MAX_STRING, _MAX_ITEMS) for n in names},
            "required": names, "additionalProperties": False}


_SCALAR_TYPES = {"string": (str,), "integer": (int,), "number": (int, float)}


def _grounded(schema: dict[str, Any], stated: list[Any]) -> dict[str, Any]:
    """``schema`` with its values restricted to the ``stated`` ones of its JSON type (an enum;
    for an array of scalars, its items): the assistant still chooses which stated value goes
    into which argument, but cannot miscopy or invent one. Unchanged when no stated value fits."""
    kind = schema.get("type")
    if kind == "array" and isinstance(schema.get("items"), dict):
        items = _grounded(schema["items"], stated)
        return schema if items is schema["items"] else {**schema, "items": items}
    if kind not in _SCALAR_TYPES or "enum" in schema or "const" in schema:
        return schema
    fits = [v for v in stated if isinstance(v, _SCALAR_TYPES[kind]) and not isinstance(v, bool)]
    if not fits:
        return schema
    loose = {k: v for k, v in schema.items() if k not in ("pattern", "format", "minLength", "maxLength",
                                                           "minimum", "maximum", "exclusiveMinimum",
                                                           "exclusiveMaximum", "multipleOf")}
    return {**loose, "enum": list(dict.fromkeys(fits))}


def stated_values(values: Any) -> list[Any]:
    """The scalar values (typed) among the user's planned ``values``, in order, without repeats."""
    if isinstance(values, dict):
        return [x for v in values.values() for x in stated_values(v)]
    if isinstance(values, list):
        return [x for v in values for x in stated_values(v)]
    return [] if isinstance(values, bool) or values is None else [values]


def _arguments_schema(api: dict[str, Any], planned: set[str], stated: list[Any] | None = None,
                      distinct: bool = False) -> dict[str, Any]:
    """The arguments the assistant may pass: the required parameters and the ones the user's
    planned values cover; optional parameters nobody asked for are left out, so a call carries
    no invented optional values. With neither, the API's own parameters. With ``stated``, the
    planned parameters take their values from those the user stated (:func:`_grounded`); with
    ``distinct`` too, no stated value fills two of them (:func:`_distinct_branches`)."""
    params = api["parameters"]
    props = params.get("properties", {})
    keep = [n for n in props if n in planned or n in params.get("required", [])]
    if not keep:
        return bound_schema({**params, "additionalProperties": False}, _MAX_STRING, _MAX_ITEMS)
    chosen = {n: _grounded(props[n], stated) if stated and n in planned else props[n] for n in keep}
    schema = bound_schema({**params, "properties": chosen, "required": keep, "additionalProperties": False},
                          _MAX_STRING, _MAX_ITEMS)
    branches = _distinct_branches(schema, [n for n in keep if chosen[n] is not props[n]]) if distinct else None
    return {"anyOf": branches} if branches else schema


#: most alternatives :func:`_distinct_branches` spells out (4 values of one type: 24)
_MAX_BRANCHES = 24


def _distinct_branches(schema: dict[str, Any], grounded: list[str]) -> list[dict[str, Any]] | None:
    """``schema`` (an arguments object) as alternatives in which the ``grounded`` parameters that
    choose from the same stated values take different ones: one alternative per assignment, so
    the assistant still picks which value goes where but cannot copy one value into two
    arguments (the 135M model's commonest miss with two values of a type: ``origin_date`` and
    ``destination_date`` both the last date it read). None when no two grounded parameters
    share their values, when a group has fewer values than parameters, or past
    :data:`_MAX_BRANCHES` alternatives."""
    groups: dict[str, list[str]] = {}
    for name in grounded:
        prop = schema["properties"][name]
        if prop.get("type") in _SCALAR_TYPES and "enum" in prop:
            groups.setdefault(json.dumps(prop["enum"]), []).append(name)
    options = []
    for key, names in groups.items():
        values = json.loads(key)
        if len(names) >= 2 and len(values) >= len(names):
            options.append([dict(zip(names, chosen)) for chosen in itertools.permutations(values, len(names))])
    if not options or math.prod(len(o) for o in options) > _MAX_BRANCHES:
        return None
    branches = []
    for parts in itertools.product(*options):
        fixed = {k: v for part in parts for k, v in part.items()}
        branches.append({**schema, "properties": {n: {**p, "enum": [fixed[n]]} if n in fixed else p
                                                  for n, p in schema["properties"].items()}})
    return branches


def planned_arguments(plan: dict[str, Any], values: dict[str, Any] | None) -> dict[str, set[str]]:
    """API name -> the parameters the user's planned ``values`` cover."""
    if not plan["targets"] or (not values and plan.get("missing_value") is None):
        return {}
    targets = plan["targets"]
    values = values or {}
    if plan["type"] == "parallel":
        out: dict[str, set[str]] = {}
        for api, part in ((targets[0], values.get("first")), (targets[-1], values.get("second"))):
            out.setdefault(api, set()).update(part or {})
        return out
    missing = {plan["missing"]} if plan.get("missing_value") is not None else set()
    return {targets[0]: set(values) | missing}


def user_values_schema(plan: dict[str, Any]) -> dict[str, Any] | None:
    """What the user agent fixes before writing: the argument values its request must state."""
    by_name = {t["name"]: t for t in plan["tools"]}
    targets = plan["targets"]
    if plan["type"] == "non_tool" or not targets:
        return None
    if plan["type"] == "parallel":
        first, second = _value_schema(by_name[targets[0]]), _value_schema(by_name[targets[-1]])
        if first is None or second is None:
            return None
        return {"type": "object", "properties": {"first": first, "second": second},
                "required": ["first", "second"], "additionalProperties": False}
    return _value_schema(by_name[targets[0]], plan.get("missing"))


def describe_tools(tools: list[dict[str, Any]]) -> str:
    """One compact line per tool: ``name(param: type*, ...) - description`` (* = required)."""
    lines = []
    for api in tools:
        required = set(api["parameters"].get("required", []))
        params = ", ".join(f"{k}: {v.get('type', 'any')}{'*' if k in required else ''}"
                           for k, v in api["parameters"].get("properties", {}).items())
        lines.append(f"{api['name']}({params}) - {api['description']}")
    return "\n".join(lines)


def _request_instruction(plan: dict[str, Any], adjust: str | None = None) -> str:
    targets = plan["targets"]
    instruction = _TYPE_INSTRUCTION[plan["type"]].format(
        targets=" and ".join(dict.fromkeys(targets)), first=targets[0] if targets else "",
        second=targets[-1] if targets else "", missing=(plan.get("missing") or "").replace("_", " "))
    if user_values_schema(plan) is not None:
        instruction += _VALUES_INSTRUCTION
    if adjust:
        instruction += _ADJUST[adjust]
    return ("The assistant has these functions:\n" + describe_tools(plan["tools"]) + "\n" + instruction
            + " Write it as the user, in the first person. Answer in JSON.")


def request_view(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan as the user agent writes its request: a non-tool dialog with a ``topic`` asks
    for that API (not among the dialog's tools) as a single-call dialog would."""
    if plan["type"] == "non_tool" and plan.get("topic"):
        return {**plan, "type": "single", "targets": [plan["topic"]["name"]], "tools": [plan["topic"]]}
    return plan


def user_values(plan: dict[str, Any]) -> tuple[list[dict], dict] | None:
    """Step 1 of the user agent for tool dialogs: fix the argument values its request will
    state (typed by the target APIs' parameters); ``None`` for dialogs that need no tool or
    whose plan already holds the values (``value_source: sampler``)."""
    if "values" in plan:
        return None
    plan = request_view(plan)
    schema = user_values_schema(plan)
    if schema is None:
        return None
    # no worked example here: the 135M model copied the example's values into unrelated dialogs
    messages = [
        {"role": "system", "content": "You plan the message a user sends to an AI assistant."},
        {"role": "user", "content": _request_instruction(plan) + " Choose realistic values for the request first."},
    ]
    return messages, {"type": "object", "properties": {"values": schema}, "required": ["values"]}


#: a clarifying question: one sentence, no bracketed asides (the 135M model copies its instructions)
_QUESTION = '^[^"\\\\()?]{8,90}\\?$'
#: a reply to a request none of the tools can serve opens with a decline; the model words the rest
#: (not "None of": the model then copies its instruction, "None of the functions can do ...: say so")
_DECLINE = "^(Sorry|I'm sorry|Unfortunately)[^\"\\\\():]{10,90}$"
#: a final answer in words: no echoed JSON or brackets (the 135M model otherwise repeats the results' syntax)
_ANSWER = '^[A-Z][^"\\\\\\[\\]{}]{9,99}$'
_REGEX_SPECIAL = set("\\.^$|?*+()[]{}/")
_FILL = '[^"\\\\]{%d,%d}'
_BREAK = '[^A-Za-z0-9"\\\\]'


def _stated(values: Any) -> list[str]:
    """The scalar values (as text) a request has to state, in order (the items of a list too)."""
    if isinstance(values, dict):
        return [t for v in values.values() for t in _stated(v)]
    if isinstance(values, list):
        return [t for v in values if not isinstance(v, (dict, list)) for t in _stated(v)]
    if isinstance(values, bool) or values is None:
        return []
    text = str(values).strip()
    return [text] if text and '"' not in text and "\\" not in text and "\n" not in text else []


def topic_pattern(words: list[str]) -> str:
    """A regular expression for any of ``words`` (lowercase stems), its first letter in either case."""
    escape = lambda t: "".join("\\" + c if c in _REGEX_SPECIAL else c for c in t)  # noqa: E731
    return "(?:" + "|".join(f"[{w[0].upper()}{w[0]}]{escape(w[1:])}" for w in words) + ")"


def topic_words(api: dict[str, Any], limit: int = 6) -> list[str]:
    """The words a request for ``api`` must mention one of: its name's content words, then its
    description's (in order, at most ``limit``)."""
    name = [w for w in dict.fromkeys(content_words(api["name"].replace(".", " ")))]
    described = [w for w in content_words(api.get("description", "")) if w not in name]
    return sorted(name)[:limit] + sorted(described)[: max(0, limit - len(name))]


def request_pattern(values: Any, lead: int = 40, between: int = 20, tail: int = 16,
                    words: list[str] | None = None, fill: str = _FILL) -> str | None:
    """A regular expression that admits text stating every scalar value (six at most), in
    order, with free text around them -- so the request cannot leave a chosen value out. The
    free text is bounded (``lead`` characters before the first value, ``between`` between two,
    ``tail`` after the last): xgrammar's compile time grows with these bounds (figures in
    benchmarks/README.md), and an unbounded one lets a small model ramble. Each value
    stands as a word of its own: the text before it ends in a space (or an opening bracket) and
    the character after it is not a letter or digit (the 135M model otherwise glues values to
    the words around them, ``healthHLT-44574``). With ``words``, the text before the first value
    must mention one of them (the API's topic: a small model otherwise copies the worked
    example's topic and asks about loans when the function creates podcasts), as a word of its own
    too (the text before it otherwise runs into its bound mid-phrase and the topic is glued on:
    ``help me withcuisine``). ``fill`` is the free text's character class and bounds
    (``follow_up.py`` keeps digits out of it)."""
    stated = list(dict.fromkeys(_stated(values)))[:6]
    if not stated:
        return None
    escape = lambda t: "".join("\\" + c if c in _REGEX_SPECIAL else c for c in t)  # noqa: E731
    before = lambda n: f"(?:{fill % (0, n)}[ (])?"  # noqa: E731
    middle = (_BREAK + before(between)).join(escape(t) for t in stated)
    opening = before(lead)
    if words:
        half = lead // 2
        opening = f"{before(half)}{topic_pattern(words)}{fill % (0, lead - half)}[ (]"
    return f"^{opening}{middle}(?:{_BREAK}{fill % (0, tail)})?$"


def user_request(plan: dict[str, Any], adjust: str | None = None, values: Any = None,
                 topic: bool = False) -> tuple[list[dict], dict]:
    """The user agent's opening request for the plan's dialog type (and complexity adjustment),
    after one worked example of the same type. With ``values`` (step 1) the request is
    constrained to state them: a small model otherwise writes requests without values, and the
    assistant has to invent them; with ``topic`` it must also name its target API's topic
    (:func:`topic_words`)."""
    plan = request_view(plan)
    example, answer = _example(plan)
    instruction = _request_instruction(plan, adjust)
    if values is not None:
        instruction += " The values: " + json.dumps(values)
    messages = [
        {"role": "system", "content": "You write the message a user sends to an AI assistant."},
        {"role": "user", "content": _request_instruction(example)
         + (" The values: " + json.dumps(answer["values"]) if "values" in answer else "")},
        {"role": "assistant", "content": json.dumps({"request": answer["request"]})},
        {"role": "user", "content": instruction},
    ]
    targets = [t for t in plan["tools"] if t["name"] in plan["targets"]]
    words = sorted({w for t in targets for w in topic_words(t)}) if topic else None
    pattern = request_pattern(values, words=words) if values is not None else None
    if pattern is None and words:  # nothing to state: the request still names the topic
        pattern = f"^(?:{_FILL % (0, 30)}[ (])?{topic_pattern(words)}{_FILL % (8, 80)}$"
    # (xgrammar ignores length bounds beside a pattern: the pattern bounds itself)
    request = {"type": "string", "pattern": pattern} if pattern else {"type": "string", "minLength": 12,
                                                                         "maxLength": 120}
    return messages, {"type": "object", "properties": {"request": request}, "required": ["request"]}


def user_reply(plan: dict[str, Any], dialog: list[dict]) -> tuple[list[dict], dict]:
    """The user agent answering the assistant's clarifying question with the missing value (the
    plan's ``missing_value``, when it holds one, stated verbatim)."""
    question = dialog[-1]["content"]
    value = plan.get("missing_value")
    given = f" The value: {json.dumps(value)}." if value is not None else ""
    messages = [
        {"role": "system", "content": "You are the user talking to an AI assistant. Answer its question with a "
                                      "concrete value."},
        {"role": "user", "content": f"Your request: {dialog[0]['content']}\nAssistant: {question}\n"
                                    f"Give the {plan['missing'].replace('_', ' ')} in one short sentence, as JSON."
                                    + given},
    ]
    pattern = request_pattern(value, lead=24, between=12, tail=12) if value is not None else None
    reply = {"type": "string", "pattern": pattern} if pattern else {"type": "string", "minLength": 2, "maxLength": 60}
    return messages, {"type": "object", "properties": {"reply": reply}, "required": ["reply"]}


def _transcript(dialog: list[dict]) -> list[dict[str, str]]:
    """The dialog so far as chat messages the assistant agent reads."""
    out = []
    for msg in dialog:
        if msg["role"] == "tool":
            out.append({"role": "user", "content": "Tool results: " + json.dumps(msg["content"])})
        elif msg.get("tool_calls"):
            out.append({"role": "assistant", "content": "Calls: " + json.dumps(msg["tool_calls"])})
        else:
            out.append({"role": msg["role"], "content": msg["content"]})
    return out


def assistant_action(plan: dict[str, Any], dialog: list[dict], phase: str, call_targets: list[str],
                     values: dict[str, Any] | None = None, grounded: bool = False,
                     distinct: bool = False) -> tuple[list[dict], dict]:
    """Prompt and action schema for one assistant phase: ``call`` (tool calls), ``ask`` (ask for
    the missing argument), ``reply`` (answer without tools) or ``answer`` (summarise results).
    A call's arguments are the target API's required parameters and those the user's planned
    ``values`` cover (:func:`_arguments_schema`); ``grounded`` restricts the planned ones to the
    values the user stated, and ``distinct`` keeps a call from putting one of them into two
    arguments (unless the plan itself repeats a value). A reply to a request for an unrelated API
    (``plan["topic"]``) opens with a decline; a clarifying question is one sentence ending in ``?``."""
    tools = plan["tools"]
    system = ("You are a helpful assistant with these functions:\n" + describe_tools(tools) +
              "\nAnswer in JSON: first a short thought (which function fits, which arguments the user gave, "
              "what is missing), then the action.")
    instruction = {
        "call": "Call the function(s) needed now, with argument values taken from the conversation.",
        "ask": "A required value is missing: ask the user for it.",
        "reply": ("None of the functions can do what the user asks: say so in one short sentence."
                  if plan.get("topic") else "None of the functions fits: answer the user directly."),
        "answer": "Answer the user using the tool results.",
    }[phase]
    messages = [{"role": "system", "content": system}] + _transcript(dialog)
    messages[-1] = {**messages[-1], "content": messages[-1]["content"] + f"\n\n({instruction})"}
    thought = {"type": "string", "minLength": 10, "maxLength": 48}
    if phase == "call":
        by_name = {t["name"]: t for t in tools}
        planned = planned_arguments(plan, values)
        stated = stated_values([values, plan.get("missing_value")]) if grounded else None
        distinct = distinct and stated is not None and len(set(stated)) == len(stated)
        options = [{"type": "object", "properties": {
            "name": {"type": "string", "const": name},
            "arguments": _arguments_schema(by_name[name], planned.get(name, set()), stated, distinct)},
            "required": ["name", "arguments"]} for name in dict.fromkeys(call_targets)]
        calls = {"type": "array", "items": options[0] if len(options) == 1 else {"anyOf": options},
                 "minItems": plan["calls"] if len(call_targets) == 1 else len(call_targets),
                 "maxItems": plan["calls"] if len(call_targets) == 1 else len(call_targets)}
        props = {"thought": thought, "calls": calls}
    else:
        key = "question" if phase == "ask" else "answer"
        text: dict[str, Any] = {"type": "string", "minLength": 2, "maxLength": 100}
        if phase == "ask":
            text = {"type": "string", "pattern": _QUESTION}
        elif phase == "answer":
            text = {"type": "string", "pattern": _ANSWER}
        elif phase == "reply" and plan.get("topic"):
            text = {"type": "string", "pattern": _DECLINE}
        props = {"thought": thought, key: text}
    return messages, {"type": "object", "properties": props, "required": list(props)}


def tool_result(api: dict[str, Any], call: dict[str, Any], earlier: list[dict]) -> tuple[list[dict], dict]:
    """The tool agent: a plausible result for ``call`` that fits ``api['returns']``."""
    returns = api.get("returns") or {"type": "object", "properties": {"result": {"type": "string"}}}
    context = f"\nEarlier results: {json.dumps(earlier)}" if earlier else ""
    messages = [
        {"role": "system", "content": "You simulate an API server. Return a realistic JSON result for the call, "
                                      "consistent with its arguments."},
        {"role": "user", "content": f"API: {api['name']} - {api['description']}\n"
                                    f"Call arguments: {json.dumps(call.get('arguments', {}))}{context}"},
    ]
    return messages, bound_schema({**returns, "required": list((returns.get("properties") or {}))},
                                  _MAX_STRING, _MAX_ITEMS)

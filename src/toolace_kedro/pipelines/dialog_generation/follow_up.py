"""Follow-up requests of ``multi_turn`` dialogs (ToolACE's multi-turn data): after the assistant's
answer the user asks again, and the new request depends on what the dialog has said so far.

Each follow-up is planned with its target API and the parameter it takes from the dialog
(``sampling.carry_options``). Once the earlier results exist, :func:`history_value` picks the
value: a scalar leaf of an earlier tool result under the parameter's own name, else a value the
user stated earlier for the same parameter, else a result leaf under another name -- each of the
parameter's JSON type and accepted by its schema. The user agent then writes the follow-up
(:func:`follow_up_request`): it states the follow-up's new values and names the taken one only
by reference ("that booking id", "the same city"), both forced by the request's grammar. The
assistant's call has to carry the taken value (the engine's plan agreement).
"""

from __future__ import annotations

import json
import random
import re
import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any

from toolace_kedro.llm.base import ChatRequest
from toolace_kedro.pipelines.dialog_generation.agents import (
    _ADJUST,
    _FILL,
    _MAX_STRING,
    describe_tools,
    request_pattern,
    stated_values,
    topic_words,
    user_values,
)
from toolace_kedro.pipelines.dialog_generation.config import DialogGenerationParams
from toolace_kedro.pipelines.dialog_generation.sampling import _TAKES
from toolace_kedro.toolcalls import check_arguments

__all__ = ["follow_up_request", "history_value", "open_follow_up", "reference", "restates"]

_JSON_TYPE = {str: "string", int: "integer", float: "number"}
_NO_DIGITS = '[^"\\\\0-9]{%d,%d}'  # (agents._FILL without digits)


def _leaves(value: Any, key: str = ""):
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _leaves(item, str(name))
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, key)
    else:
        yield key, value


def _fits(value: Any, name: str, schema: dict[str, Any], exclude: set[str]) -> bool:
    """Whether ``value`` can fill parameter ``name``: of its JSON type, accepted by its schema, and
    text a request can refer to and a call grammar can hold (short, no quotes or line breaks)."""
    if _JSON_TYPE.get(type(value)) not in _TAKES.get(schema.get("type"), ()):
        return False
    text = str(value).strip()
    if not text or len(text) > _MAX_STRING or any(c in text for c in '"\\\n') or text.lower() in exclude:
        return False
    return not check_arguments({"type": "object", "properties": {name: schema}, "required": [name]}, {name: value})


def history_value(api: dict[str, Any], name: str, dialog: list[dict[str, Any]], stated: list[dict[str, Any]],
                  exclude: list[Any], rng: random.Random) -> tuple[Any, str] | None:
    """``(value, source)`` for parameter ``name`` of ``api`` from the ``dialog`` so far: a result
    leaf under the same key (``source`` ``results``), else a value the user stated for the same
    parameter (``stated``: the earlier requests' values; ``user``), else a result leaf under
    another key; each accepted by the parameter's schema, drawn with ``rng`` within the tier.
    Values whose text is in ``exclude`` (the follow-up's own new values) are left out: a request
    could not refer to one without stating it. None when nothing fits."""
    schema = api["parameters"].get("properties", {}).get(name)
    if not isinstance(schema, dict):
        return None
    skip = {str(v).strip().lower() for v in stated_values(exclude)}
    results = [(key, v) for m in dialog if m["role"] == "tool" for r in m["content"] for key, v in _leaves(r["results"])]
    tiers = ([(v, "results") for key, v in results if key == name],
             [(values[name], "user") for values in stated if name in values],
             [(v, "results") for key, v in results if key != name])
    for tier in tiers:
        fitting = list({json.dumps(v): (v, src) for v, src in tier if _fits(v, name, schema, skip)}.values())
        if fitting:
            return rng.choice(fitting)
    return None


def _words(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ").lower().strip()


def reference(name: str, source: str) -> str:
    """How a follow-up names the value it takes: ``that <parameter>`` for a result, ``the same
    <parameter>`` for a value the user gave before."""
    return ("the same " if source == "user" else "that ") + _words(name)


def restates(request: str, value: Any) -> bool:
    """Whether ``request`` spells out ``value`` (as a word of its own, any case)."""
    text = str(value).strip().lower()
    return bool(text) and re.search(rf"(?<![a-z0-9]){re.escape(text)}(?![a-z0-9])", request.lower()) is not None


def _api(name: str, description: str, props: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "description": description, "parameters": {
        "type": "object", "properties": {k: {"type": t} for k, t in props.items()}, "required": list(props)}}


#: worked examples (our own writing), one shown before the task, drawn by the dialog's id
_EXAMPLES = [
    ([_api("search_flights", "Find flights between two cities on a date.",
           {"origin": "string", "destination": "string", "date": "string"}),
      _api("book_flight", "Book seats on a flight.", {"flight_number": "string", "passengers": "integer"})],
     "User: Find flights from Lisbon to Warsaw on 2025-06-12.\nAssistant: The cheapest is TP1350 at 89 euros.",
     "book_flight", "that flight number", {"passengers": 2},
     "Great, please book that flight number for 2 passengers."),
    ([_api("get_forecast", "Weather forecast for a city.", {"city": "string", "days": "integer"})],
     "User: What is the weather in Osaka tomorrow?\nAssistant: It will be sunny and 24 degrees in Osaka.",
     "get_forecast", "the same city", {"days": 5},
     "And what is the forecast for the same city over 5 days?"),
]


def _history(dialog: list[dict[str, Any]], limit: int = 4) -> str:
    """The user's turns and the assistant's text answers so far (the last ``limit``)."""
    lines = [f"{m['role'].capitalize()}: {' '.join(m['content'].split())[:160]}" for m in dialog
             if m["role"] in ("user", "assistant") and not m.get("tool_calls") and m["content"]]
    return "\n".join(lines[-limit:])


def _instruction(tools: list[dict], history: str, target: str, ref: str, values: dict[str, Any],
                 adjust: str | None) -> str:
    text = (f"The assistant has these functions:\n{describe_tools(tools)}\nThe conversation so far:\n{history}\n"
            f"Write the user's next request. It needs {target} and refers to {ref} from before, in those words, "
            "without repeating its value.")
    if values:
        text += " It also states every new value."
    if adjust:
        text += _ADJUST[adjust]
    text += " Write it as the user, in the first person. Answer in JSON."
    return text + (" The values: " + json.dumps(values) if values else "")


def follow_up_request(view: dict[str, Any], dialog: list[dict[str, Any]], ref: str, values: dict[str, Any],
                      adjust: str | None = None, topic: bool = False) -> tuple[list[dict], dict]:
    """The user agent's follow-up request for ``view`` (the follow-up as a single-call plan whose
    ``missing`` parameter is the one taken from the dialog), after one worked example. Its grammar
    admits text that says the reference ``ref`` and then states every new value (in order, each as
    a word of its own; ``agents.request_pattern``); with ``topic`` the text before the reference
    names the target API's topic; when the taken value (``view["missing_value"]``) has digits the
    free text has none."""
    tools = view["tools"]
    target = next(t for t in tools if t["name"] == view["targets"][0])
    example = _EXAMPLES[zlib.crc32(str(view.get("id", "")).encode()) % len(_EXAMPLES)]
    ex_tools, ex_history, ex_target, ex_ref, ex_values, ex_request = example
    messages = [
        {"role": "system", "content": "You write the next message a user sends to an AI assistant."},
        {"role": "user", "content": _instruction(ex_tools, ex_history, ex_target, ex_ref, ex_values, None)},
        {"role": "assistant", "content": json.dumps({"request": ex_request})},
        {"role": "user", "content": _instruction(tools, _history(dialog), target["name"], ref, values, adjust)},
    ]
    # the free text has no digits when the taken value has some: a small model cannot spell it out then
    fill = _NO_DIGITS if any(c.isdigit() for c in str(view.get("missing_value", ""))) else _FILL
    pattern = request_pattern([ref] + stated_values(values), words=topic_words(target) if topic else None, fill=fill)
    return messages, {"type": "object", "properties": {"request": {"type": "string", "pattern": pattern}},
                      "required": ["request"]}


def ask_values(planned: tuple[list[dict], dict], cfg: DialogGenerationParams, state: Any, counts: Counter,
               drop: Callable[[Any, str, Counter], None]):
    """The values the user agent fixes for its next request (``planned``: the prompt and schema of
    ``agents.user_values``); ``None`` when the agent failed (``drop`` told why)."""
    answers = yield [ChatRequest(*planned, {"max_tokens": cfg.max_tokens.user})]
    if answers[0] is None:
        reason = answers.failures.get(0, "failed")
        counts[f"failed_samples.{reason}"] += 1
        drop(state, f"user_agent.{reason}", counts)
        return None
    return json.loads(answers[0])["values"]


def open_follow_up(state: Any, cfg: DialogGenerationParams, counts: Counter,
                   drop: Callable[[Any, str, Counter], None]):
    """The next follow-up of a multi_turn dialog: its plan view (a single-call plan whose
    ``missing`` parameter takes its value from the dialog), its new values (``value_source:
    llm``: the user agent fixes them), the value taken from the dialog and the user's request,
    which refers to that value without stating it. ``state`` is the engine's ``DialogState``;
    ``drop(state, reason, counts)`` ends the follow-up when a step fails."""
    plan, k = state.plan, len(state.follow_ups)
    spec = plan["follow_ups"][k]
    api = next(t for t in plan["tools"] if t["name"] == spec["target"])
    view = {"id": f"{plan['id']}-f{k + 1}", "type": "single", "targets": [api["name"]], "tools": plan["tools"],
            "calls": 1, "missing": spec["carry"]}
    state.follow_up = {"view": view, "values": spec.get("values") or {}, "messages": len(state.messages),
                       "agreement": len(state.agreement), "calls_done": state.calls_done}
    state.exchange_calls = 0
    planned = user_values(view) if "values" not in spec else None
    if planned is not None:
        chosen = yield from ask_values(planned, cfg, state, counts, drop)
        if chosen is None:
            return
        state.follow_up["values"] = chosen
    values = state.follow_up["values"]
    stated = [state.user_values or {}] + [f["values"] for f in state.follow_ups]
    found = history_value(api, spec["carry"], state.messages, stated, values, random.Random(f"{cfg.seed}:{view['id']}"))
    if found is None:
        drop(state, "no_history_value", counts)
        return
    value, source = found
    view["missing_value"] = value
    prompt, schema = follow_up_request(view, state.messages, reference(spec["carry"], source), values, state.adjust,
                                       cfg.request_topic)
    answers = yield [ChatRequest(prompt, schema, cfg.user_sampling())]
    if answers[0] is None:
        reason = answers.failures.get(0, "failed")
        counts[f"failed_samples.{reason}"] += 1
        drop(state, f"user_agent.{reason}", counts)
        return
    request = json.loads(answers[0])["request"].strip()
    if restates(request, value):
        drop(state, "restated_value", counts)
        return
    state.follow_up["meta"] = {"turn": len(state.messages), "target": api["name"], "argument": spec["carry"],
                               "value": value, "source": source, "values": values}
    state.messages.append({"role": "user", "content": request})

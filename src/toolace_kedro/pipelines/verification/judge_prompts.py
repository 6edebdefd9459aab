"""The three judges' prompts: compact (the prompt tokens are most of a judge's cost on a CPU) and
built around the evidence, with optional worked examples (one pass, one fail; our own writing).

Each prompt is a short system line, an optional pair of worked examples as earlier chat turns,
and the case: the relevant part of the dialog, the deterministic evidence where there is one,
and the question, which says what makes a pass and what a fail.

A dialog of several requests (``toolcalls.exchanges``: a ``multi_turn`` dialog's follow-ups) is
judged request by request: each case takes the ``span`` of one exchange, with what the judge
needs from before it (the earlier user turns; the tool results the request may refer to).
"""

from __future__ import annotations

import json
from typing import Any

from toolace_kedro.toolcalls import render_calls

__all__ = ["consistency_case", "hallucination_case", "messages", "tool_response_case"]

SYSTEM = {
    "hallucination": "You are an expert who checks function calls for invented argument values.",
    "consistency": "You are an expert who checks that an AI assistant answered what the user asked.",
    "tool_response": "You are an expert who checks simulated API results against the declared output.",
}
_JSON_NOTE = " Reply in JSON: a short reason, then the verdict, pass or fail."
#: (the closing words sway the 135M model: "...; then fail." made it fail 80-95 % of the dialogs)
QUESTION = {
    "hallucination": "Answer pass unless a value NOT FOUND above was made up by the assistant; then answer fail.",
    "consistency": "Answer pass unless the assistant ignored the request or the tool results; then answer fail.",
    "tool_response": "Answer pass unless a result does not match its declared output; then answer fail.",
}
_CLIP = 160  # characters of any one turn, call list or result shown to a judge

EXAMPLES = {
    "hallucination": [
        ('User: Book a table for 4 at Casa Lola tonight.\nCalls: [book_table(restaurant="Casa Lola", people=4)]\n'
         'Values found in the conversation: restaurant="Casa Lola", people=4\n'
         'Values NOT FOUND in the conversation: none\n',
         {"reason": "Both values are in the request", "verdict": "pass"}),
        ('User: What is the weather in Osaka?\nCalls: [get_forecast(city="Osaka", days=10)]\n'
         'Values found in the conversation: city="Osaka"\nValues NOT FOUND in the conversation: days=10\n',
         {"reason": "The user never asked for ten days", "verdict": "fail"}),
    ],
    "consistency": [
        ('User: Convert 100 USD to EUR.\nAssistant calls: [convert(amount=100, base="USD", target="EUR")]\n'
         'Tool results: [{"name": "convert", "results": {"amount": 92.1}}]\nAssistant: 100 USD is 92.10 EUR.\n',
         {"reason": "It converts the amount the user gave", "verdict": "pass"}),
        ('User: Find vegan recipes with lentils.\nAssistant calls: [find_recipes(ingredient="chicken")]\n'
         'Tool results: [{"name": "find_recipes", "results": ["Chicken curry"]}]\nAssistant: Try chicken curry.\n',
         {"reason": "The user wanted lentils, not chicken", "verdict": "fail"}),
    ],
    "tool_response": [
        ('Call: [get_quote(symbol="ACME")]\nDeclared output: price (number), change (number)\n'
         'Result: {"price": 189.5, "change": -0.4}\nSchema check: matches\n',
         {"reason": "Both declared fields with numbers", "verdict": "pass"}),
        ('Call: [get_forecast(city="Lima")]\nDeclared output: temperature (number), sky (string)\n'
         'Result: {"status": "unknown city"}\nSchema check: does not match (temperature is missing)\n',
         {"reason": "The temperature and sky are missing", "verdict": "fail"}),
    ],
}


def clip(text: Any, limit: int = _CLIP) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def calls_text(calls: list[dict]) -> str:
    try:
        return clip(render_calls(calls))
    except Exception:  # unusual values: show the JSON
        return clip(json.dumps(calls, ensure_ascii=False, default=str))


def _user_turns(messages: list[dict[str, Any]]) -> str:
    return "\n".join(f"User: {clip(m['content'])}" for m in messages if m["role"] == "user")


def _span(sample: dict[str, Any], span: tuple[int, int] | None) -> tuple[int, int]:
    return span if span is not None else (0, len(sample["messages"]))


def hallucination_case(sample: dict[str, Any], grounding: list[dict], span: tuple[int, int] | None = None
                       ) -> str | None:
    start, end = _span(sample, span)
    messages = sample["messages"]
    calls = [c for m in messages[start:end] if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    if not calls:
        return None
    grounding = [e for e in grounding if start <= e.get("message", start) < end]
    found = [f"{e['argument']}={json.dumps(e['value'], ensure_ascii=False)}" for e in grounding if e["found_in"]]
    missing = [f"{e['argument']}={json.dumps(e['value'], ensure_ascii=False)}" for e in grounding if not e["found_in"]]
    return (f"{_user_turns(messages[:end])}\nCalls: {calls_text(calls)}\n"
            f"Values found in the conversation: {clip(', '.join(found) or 'none', 120)}\n"
            f"Values NOT FOUND in the conversation: {clip(', '.join(missing) or 'none', 120)}\n")


def consistency_case(sample: dict[str, Any], span: tuple[int, int] | None = None) -> str:
    start, end = _span(sample, span)
    earlier = [m for m in sample["messages"][:start] if m["role"] == "tool"][-1:]
    lines = ["Earlier tool results: " + clip(json.dumps(m["content"], ensure_ascii=False)) for m in earlier]
    for msg in sample["messages"][start:end]:
        if msg["role"] == "tool":
            lines.append("Tool results: " + clip(json.dumps(msg["content"], ensure_ascii=False)))
        elif msg.get("tool_calls"):
            lines.append("Assistant calls: " + calls_text(msg["tool_calls"]))
        else:
            lines.append(f"{msg['role'].capitalize()}: {clip(msg.get('content', ''))}")
    return "\n".join(lines[:len(earlier)] + lines[len(earlier):][-8:]) + "\n"


def _declared(returns: dict[str, Any]) -> str:
    props = returns.get("properties")
    if isinstance(props, dict) and props:
        return clip(", ".join(f"{k} ({v.get('type', 'any') if isinstance(v, dict) else 'any'})"
                              for k, v in props.items()), 120)
    return clip(json.dumps(returns), 120)


def tool_response_case(sample: dict[str, Any], fit: list[dict], span: tuple[int, int] | None = None) -> str | None:
    start, end = _span(sample, span)
    fit = [f for f in fit if start <= f["message"] < end]
    if not fit:
        return None
    by_name = {t.get("name"): t for t in sample["tools"]}
    checks = {(f["message"], f["index"]): f for f in fit}
    parts = []
    for i, msg in enumerate(sample["messages"]):
        if msg["role"] != "tool" or not start <= i < end:
            continue
        for j, (call, result) in enumerate(zip(sample["messages"][i - 1].get("tool_calls") or [], msg["content"])):
            returns = (by_name.get(result["name"]) or {}).get("returns")
            check = checks.get((i, j))
            if not isinstance(returns, dict) or check is None:
                continue
            parts.append(f"Call: {calls_text([call])}\nDeclared output: {_declared(returns)}\n"
                         f"Result: {clip(json.dumps(result['results'], ensure_ascii=False))}\nSchema check: "
                         + ("matches" if check["fits"] else f"does not match ({check['problem']})"))
    return "\n".join(parts[:3]) + "\n"


def messages(name: str, case: str, examples: bool) -> list[dict[str, str]]:
    """The chat messages of judge ``name`` for one case (after the worked examples if asked)."""
    out = [{"role": "system", "content": SYSTEM[name] + _JSON_NOTE}]
    if examples:
        for body, answer in EXAMPLES[name]:
            out += [{"role": "user", "content": body + QUESTION[name]},
                    {"role": "assistant", "content": json.dumps(answer)}]
    return out + [{"role": "user", "content": case + QUESTION[name]}]

"""benchmarks/call_arity.py: the two arms' training sets and how complete a policy's calls are."""

from collections import Counter

from tests._benchmarks import load_benchmark


def _dialog(i: int, kind: str, arguments: int | None) -> dict:
    messages = [{"role": "user", "content": "q"}]
    if arguments is not None:
        messages.append({"role": "assistant", "content": "",
                         "tool_calls": [{"name": "f", "arguments": {f"a{k}": k for k in range(arguments)}}]})
    return {"id": f"{kind}-{i}", "type": kind, "messages": messages}


def test_arms_match_size_and_type_mix_and_differ_in_arguments_per_call():
    arity = load_benchmark("call_arity")
    train = ([_dialog(i, "single", 1) for i in range(10)] + [_dialog(i, "single", 2 + i % 2) for i in range(4)]
             + [_dialog(i, "clarify", 1) for i in range(1)] + [_dialog(i, "clarify", 2) for i in range(2)]
             + [_dialog(i, "non_tool", None) for i in range(17)])
    one, held_one = arity.arm_dialogs(train, "one", seed=0)
    multi, held_multi = arity.arm_dialogs(train, "multi", seed=0)
    assert held_one["call_dialogs"] == held_multi["call_dialogs"] == 6  # 4 single + 2 clarify with >= 2 arguments
    assert held_one["non_call_dialogs"] == held_multi["non_call_dialogs"] == 6  # 17 non-call : 17 call dialogs
    assert set(held_one["arguments_per_call"]) == {1} and 1 not in held_multi["arguments_per_call"]
    # the clarify type is short of one-argument dialogs: a single-call one fills its place
    assert Counter(d["type"] for d in one) == {"single": 5, "clarify": 1, "non_tool": 6}
    assert len({d["id"] for d in one}) == len(one) == len(multi)


def test_completeness_counts_arguments_of_calls_to_the_items_function():
    arity = load_benchmark("call_arity")
    function = {"name": "area", "parameters": {"type": "dict", "properties": {"w": {}, "h": {}, "unit": {}},
                                               "required": ["w", "h"]}}
    items = [{"source": "bfcl", "id": str(i), "category": "simple_python", "entry": {"function": [function]}}
             for i in range(4)]
    outputs = ["[area(w=2, h=3)]", "[area(w=2)]", "[area(2, 3)]", "I cannot help with that."]
    predictions = [{"source": "bfcl", "id": str(i), "output": o} for i, o in enumerate(outputs)]
    simple = arity.completeness(items, predictions)["simple_python"]
    assert simple["calls_the_function"] == 2 and simple["all_required"] == 1
    assert simple["mean_arguments"] == 1.5 and simple["mean_required"] == 2
    assert simple["positional_only"] == 1  # [area(2, 3)]: BFCL reads it as a call without arguments

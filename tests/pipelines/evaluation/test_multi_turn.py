"""BFCL multi-turn: data, the executor's allow-list and results, and verdicts compared with the
official checker (which ``eval``\\ s call strings: it runs here, in the test, on trajectories made
from the ground truth only -- never on the hostile outputs of test_multi_turn_hostile.py)."""

from __future__ import annotations

import copy
import decimal
import importlib
import inspect
import random
from collections import Counter

import mpmath
import pytest

from tests.pipelines.evaluation.conftest import AGREEMENT
from tests.pipelines.evaluation.multi_turn_cases import (
    keyword_turns,
    mutations,
    one_step_per_turn,
    render,
    split_steps,
)
from toolace_kedro.datasets.bfcl_multi_turn import (
    MULTI_TURN_CATEGORIES,
    load_multi_turn_category,
)
from toolace_kedro.pipelines.evaluation.multi_turn import (
    check_decoded,
    check_trajectory,
    ground_truth_calls,
    score_multi_turn,
)
from toolace_kedro.pipelines.evaluation.multi_turn_executor import (
    BACKENDS,
    STATELESS,
    BackendSession,
    Call,
    StepDecodeError,
    allowed_methods,
    backend_class,
    decode_step,
)

pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence")

#: Mutated trajectories per entry, and the seed of their draw.
MUTATIONS_PER_ENTRY, SEED = 16, 25
MODEL = "probe"


class OfficialMultiTurn:
    """bfcl-eval's ``eval_runner`` multi-turn path: decode each step with the prompt-mode decoder,
    drop undecodable and empty steps, then ``multi_turn_checker``. Its executor keeps instances in
    its module's globals by model and entry; they are removed after each verdict."""

    def __init__(self, official_bfcl) -> None:
        self.checker = importlib.import_module("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker")
        self.utils = importlib.import_module("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils")
        self.config = importlib.import_module("bfcl_eval.constants.executable_backend_config")
        self.bfcl_utils = official_bfcl.utils
        self.decoder = official_bfcl.decoder

    def _clean(self, before: set[str]) -> None:
        for name in set(vars(self.utils)) - before:
            del vars(self.utils)[name]

    def execute(self, entry: dict, turns: list[list[str]]) -> list[list[str]]:
        before, out = set(vars(self.utils)), []
        try:
            for turn in turns:
                out.append(self.utils.execute_multi_turn_func_call(
                    turn, entry["initial_config"], entry["involved_classes"], MODEL, entry["id"],
                    long_context="long_context" in entry["category"], is_evaL_run=True)[0])
        finally:
            self._clean(before)
        return out

    def check_strings(self, entry: dict, decoded: list[list[list[str]]]) -> tuple[bool | None, str]:
        prompt = {k: copy.deepcopy(entry[k]) for k in ("id", "initial_config", "involved_classes")}
        before = set(vars(self.utils))
        try:
            result = self.checker.multi_turn_checker(decoded, entry["ground_truth"], prompt, entry["category"], MODEL)
        except Exception as exc:  # noqa: BLE001 - the leaderboard run would crash
            return None, repr(exc)
        finally:
            self._clean(before)
        return bool(result["valid"]), result.get("error_type", "ok").removeprefix("multi_turn:")

    def verdict(self, entry: dict, turns: list[list[str]]) -> tuple[bool | None, str]:
        if len(turns) != len(entry["ground_truth"]):
            return False, "force_terminated"
        decoded = []
        for turn in turns:
            steps = []
            for text in turn:
                try:
                    calls = self.decoder.default_decode_execute_prompting(text)
                except Exception:  # noqa: BLE001, S112 - BFCL's runner leaves such a step out
                    continue
                if not self.utils.is_empty_execute_response(calls):
                    steps.append(calls)
            decoded.append(steps)
        return self.check_strings(entry, decoded)


@pytest.fixture(scope="module")
def official(official_bfcl):
    return OfficialMultiTurn(official_bfcl)


@pytest.fixture(scope="module")
def entries():
    return {category: load_multi_turn_category(category) for category in MULTI_TURN_CATEGORIES}


def kind(reason: str) -> str:
    return reason.split(":", 1)[0]


# --------------------------------------------------------------------------- data and backends
def test_data_is_what_bfcls_loader_gives(entries, official_bfcl):
    for category, ours in entries.items():
        assert len(ours) == 200
        theirs = official_bfcl.utils.load_dataset_entry(category, include_language_specific_hint=False)
        answers = official_bfcl.utils.load_ground_truth_entry(category)
        for entry, reference, answer in zip(ours, theirs, answers, strict=True):
            assert entry["id"] == reference["id"] == answer["id"]
            assert entry["question"] == reference["question"] and entry["function"] == reference["function"]
            assert entry["missed_function"] == reference.get("missed_function", {})
            assert entry["initial_config"] == reference["initial_config"]
            assert entry["ground_truth"] == answer["ground_truth"]
    assert sum(bool(e["missed_function"]) for e in entries["multi_turn_miss_func"]) == 200
    sample = load_multi_turn_category("multi_turn_base", sample_size=5, seed=1)
    assert [e["id"] for e in sample] == sorted((e["id"] for e in sample), key=lambda i: int(i.rsplit("_", 1)[1]))
    with pytest.raises(ValueError, match="unknown BFCL multi-turn category"):
        load_multi_turn_category("multi_turn_composite")


def test_backends_and_allow_list_are_bfcls(official):
    config = official.config
    assert STATELESS == set(config.STATELESS_CLASSES)
    for class_name, module in BACKENDS.items():
        assert config.CLASS_FILE_PATH_MAPPING[class_name].rsplit(".", 1)[1] == module
        instance = backend_class(class_name)()
        bfcl_methods = {n for n, _ in inspect.getmembers(instance, inspect.ismethod) if not n.startswith("_")}
        assert allowed_methods(class_name) == bfcl_methods
        assert not allowed_methods(class_name) & {"kill", "exit", "quit", "remove", "unlink", "popen", "run"}
    # no two classes share a method name, so which class wins a shared name (the later, in BFCL) never shows
    names = [name for class_name in BACKENDS for name in allowed_methods(class_name)]
    assert len(names) == len(set(names))


def test_execution_results_are_bfcls(entries, official):
    """Every ground-truth call of every entry: the same result string, turn after turn."""
    compared = 0
    for category_entries in entries.values():
        for entry in category_entries:
            session = BackendSession.for_entry(entry)
            ours = [session.execute(turn) for turn in ground_truth_calls(entry)]
            assert ours == official.execute(entry, entry["ground_truth"]), entry["id"]
            compared += sum(map(len, ours))
    AGREEMENT["multi_turn.execution_results_equal"] = compared


# --------------------------------------------------------------------------- agreement
def test_verdicts_agree_with_the_official_checker(entries, official):
    rng = random.Random(SEED)
    mismatches, by_kind = [], Counter()
    for category, category_entries in entries.items():
        stats: Counter = Counter()
        for entry in category_entries:
            truth = ground_truth_calls(entry)
            # the ground truth as the checker receives it (positional arguments kept)
            ok, _ = check_decoded(entry, [[turn] if turn else [] for turn in truth])
            reference = official.check_strings(entry, [[turn] if turn else [] for turn in entry["ground_truth"]])
            stats["ground_truth_pass_ours"] += ok
            stats["ground_truth_pass_official"] += reference[0] is True
            # the ground truth as a policy writes it: one step per turn, or a call per step with prose
            named = keyword_turns(entry)
            cases = [("ground_truth_text", render(one_step_per_turn(named))),
                     ("ground_truth_steps", split_steps(named, rng))]
            cases += mutations(entry, rng, MUTATIONS_PER_ENTRY)
            for label, trajectory in cases:
                ours = check_trajectory(entry, trajectory)
                theirs = official.verdict(entry, trajectory)
                group = "ground_truth" if label.startswith("ground_truth") else "mutations"
                stats[f"{group}_compared"] += 1
                if theirs[0] is None:
                    stats[f"{group}_official_raised"] += 1
                    mismatches += [] if ours[0] is False else [(entry["id"], label, ours, theirs)]
                    continue
                if (ours[0], kind(ours[1])) == theirs:
                    stats[f"{group}_agree"] += 1
                    stats[f"{group}_official_pass"] += theirs[0]
                    if group == "mutations":
                        by_kind[label] += 1
                        by_kind[f"{label}_fail"] += not theirs[0]
                else:
                    mismatches.append((entry["id"], label, ours, theirs, trajectory))
        for key, value in stats.items():
            AGREEMENT[f"multi_turn.{category}.{key}"] = value
        assert stats["ground_truth_pass_ours"] == stats["ground_truth_pass_official"] == len(category_entries)
    for label, value in by_kind.items():
        AGREEMENT[f"multi_turn.mutation[{label}]"] = value
    assert not mismatches, f"{len(mismatches)} disagreements, e.g. " + "\n".join(map(repr, mismatches[:5]))
    # the mutations exercise both verdicts and every failure kind
    total: Counter = Counter()
    for key, value in AGREEMENT.items():
        if key.startswith("multi_turn.multi_turn"):
            total[key.split(".", 2)[2]] += value
    assert 0.1 * total["mutations_compared"] < total["mutations_official_pass"] < 0.6 * total["mutations_compared"]


def test_failure_kinds():
    entry = load_multi_turn_category("multi_turn_base", sample_size=None)[0]
    named = keyword_turns(entry)
    good = render(one_step_per_turn(named))
    assert check_trajectory(entry, good) == (True, "ok")
    assert kind(check_trajectory(entry, good[:-1])[1]) == "force_terminated"
    assert kind(check_trajectory(entry, "[cd(folder='x')]")[1]) == "inference_error"
    assert kind(check_trajectory(entry, [[]] + good[1:])[1]) == "empty_turn_model_response"
    assert kind(check_trajectory(entry, [["Sure!", "[]"]] + good[1:])[1]) == "empty_turn_model_response"
    no_mkdir = [[s.replace("mkdir(dir_name='temp'), ", "") for s in good[0]]] + good[1:]
    assert kind(check_trajectory(entry, no_mkdir)[1]) == "instance_state_mismatch"
    # turn 1 greps: a grep for another pattern leaves the state as it is but misses the result
    wrong_grep = [good[0], [good[1][0].replace("budget analysis", "revenue")]] + good[2:]
    assert kind(check_trajectory(entry, wrong_grep)[1]) == "execution_response_mismatch"
    scores = score_multi_turn("multi_turn_base", [entry, entry], [good, wrong_grep])
    assert scores["correct"] == 1 and scores["failures"] == {"execution_response_mismatch": 1}


# --------------------------------------------------------------------------- decoding
@pytest.mark.parametrize("text", [
    "[cd(folder='document'), ls(a=True)]", "cd(folder='document')", "```\n[cd(folder='x')]\n```",
    "[f(a=-5, b=+2.5, c=not 1, d=..., e=(1, 'x'), g=[1, [2, {'k': 3}]], h={'k': [1], 2: 'v'}, i=None)]",
    "[f(1, 2, a='x')]", "[a.b.c(x=1)]", "[]", "", "[f()]", "  [f(a='it\\'s')]  \n"])
def test_decoding_is_bfcls_for_literal_outputs(text, official):
    assert [c.render() for c in decode_step(text)] == official.decoder.default_decode_execute_prompting(text)


@pytest.mark.parametrize("text", [
    "[cd(folder=document)]", "[cd(folder=pwd())]", "[cd(folder=f(x=1))]", "[cd(folder=1+2)]",
    "[cd(folder={'a': {'b': 1}})]", "[cd(folder={})]", "[cd(folder={1, 2})]", "[cd(folder=x[0])]",
    "[cd(folder=f'{x}')]", "[cd(**{'folder': 'x'})]", "[cd(folder=lambda: 1)]", "[cd(folder=[i for i in 'ab'])]",
    "[f()(x=1)]", "[1, f(a=1)]", "I will call cd", "[cd(folder=-x)]", "[cd(folder=-'x')]", "[f(a=1) for f in g]"])
def test_non_literal_steps_do_not_decode(text):
    """BFCL would read some of these as a name's or call's text, or evaluate them; here the step fails."""
    with pytest.raises(StepDecodeError):
        decode_step(text)


def test_call_render_and_session():
    session = BackendSession(["MathAPI", "GorillaFileSystem"], {"GorillaFileSystem": {"root": {"r": {
        "type": "directory", "contents": {"a.txt": {"type": "file", "content": "hi"}}}}}})
    assert session.execute([Call("ls", {}), Call("cat", {"file_name": "a.txt"}), Call("mean", {"numbers": [1, 3]})]) \
        == ['{"current_directory_content": ["a.txt"]}', '{"file_content": "hi"}', '{"result": 2.0}']
    assert session.execute_one(Call("cd", {"folder": "nowhere"})) == \
        '{"error": "cd: \'nowhere\': No such file or directory"}'
    assert session.execute_one(Call("ls", {"bogus": 1})) == \
        "Error during execution: GorillaFileSystem.ls() got an unexpected keyword argument 'bogus'"
    # MathAPI sets the process's decimal and mpmath precision: both are restored after each call
    precision, digits = decimal.getcontext().prec, mpmath.mp.dps
    assert session.execute_one(Call("square_root", {"number": 2, "precision": 40})).startswith(
        "{'result': Decimal('1.41421356237309504880168872420969807857")
    assert session.execute_one(Call("logarithm", {"value": 8, "base": 2, "precision": 30})).startswith("{'result': mpf('2.9999")
    assert (decimal.getcontext().prec, mpmath.mp.dps) == (precision, digits)
    assert session.execute_one(Call("power", {"base": 3, "exponent": 4})) == '{"result": 81}'
    assert "exceeds" in session.execute_one(Call("power", {"base": 3, "exponent": 10**9}))
    assert Call("f", {"a": {"k": [1, {"x": 2}]}, "b": "s"}, (3,)).render() == "f(3, a={'k': [1, {'x': 2}]}, b='s')"

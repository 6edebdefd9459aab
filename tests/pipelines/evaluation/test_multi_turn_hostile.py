"""Hostile model outputs on the multi-turn executor: nothing outside the allow-list runs.

Every way Python could run code is watched while a step is decoded and executed: ``eval``,
``exec``, ``open``, ``__import__``, ``os.system``/``popen``/``remove``, ``subprocess.Popen``, the
backend class's constructor and scenario loader; ``compile`` may only be asked for a syntax tree
(``ast.parse``), never for code. Each output is a failed step: it does not decode (nothing of it
runs) or its calls are refused with BFCL's error text, and the backends' state does not change.
"""

from __future__ import annotations

import ast
import builtins
import copy
import os
import subprocess
import time

import pytest

from tests.support.fakes import ScriptedLLM
from toolace_kedro.datasets.bfcl_multi_turn import load_multi_turn_category
from toolace_kedro.pipelines.evaluation.multi_turn import check_trajectory
from toolace_kedro.pipelines.evaluation.multi_turn_executor import (
    ERROR_PREFIX,
    BackendSession,
    backend_class,
    decode_step,
)
from toolace_kedro.pipelines.evaluation.multi_turn_policy import run_multi_turn

HOSTILE = [
    "[__import__('os').system('x')]", "[os.system('x')]", "[os.system(command='x')]",
    "[GorillaFileSystem.__init__(x=1)]", "[GorillaFileSystem._load_scenario(scenario={})]",
    "[cd(folder=open('f'))]", "[_private(x=1)]", "[_load_scenario(scenario={}, long_context=True)]",
    "[cd.__class__(x=1)]", "[cd.__globals__(x=1)]", "[ls.__func__.__globals__(x=1)]", "[__builtins__.open(file='f')]",
    "[cd(folder=(lambda: __import__('os').system('x'))())]", "[cd(folder=lambda: 1)]",
    "[cd(folder=[__import__('os') for _ in 'a'])]", "[cd(folder={k: 1 for k in 'a'})]",
    "[cd(folder=(x for x in 'a'))]", "[cd(folder={__import__('os')})]",
    "[cd(folder=__import__('os').getcwd())]", "[cd(folder='x' + __import__('os').getcwd())]",
    "[cd(folder=f'{__import__(\"os\").getcwd()}')]", "[cd(folder=[*__import__('os').environ])]",
    "[cd(**{'folder': __import__('os')})]", "[cd(folder=__import__)]", "[cd(folder=os.environ['HOME'])]",
    "[mean(numbers=9**9**9)]", "[mean(numbers='a'*10**9)]", "[cd(folder=(os := 1))]",
    "[exit()]", "[quit(code=1)]", "[open(file='f', mode='w')]", "[eval(source='1+1')]", "[exec(source='x=1')]",
    "[print(value='x')]", "[getattr(o=1, name='x')]", "[breakpoint()]", "[execute_multi_turn_func_call(x=1)]",
    "[power(base=10, exponent=1000000000000)]", "[square_root(number=2, precision=1000000000)]",
    "[logarithm(value=2, base=10, precision=1000000000)]",
    "[__import__('os').system('x') for _ in 'a']", "import os; os.system('x')", "[cd(folder='a')][0](x=1)",
]


class Watch:
    """Records every forbidden thing that happens while ``active``."""

    def __init__(self, monkeypatch, backends: bool = True) -> None:
        self.events: list[str] = []
        self.active = False
        classes = [backend_class(name) for name in ("GorillaFileSystem", "MathAPI")] if backends else []
        real_compile, real_import = builtins.compile, builtins.__import__

        def record(name):
            def forbidden(*args, **kwargs):
                self.events.append(name)
                raise AssertionError(f"{name} ran")
            return forbidden

        def compile_tree_only(source, filename, mode, flags=0, *args, **kwargs):
            if self.active and not flags & ast.PyCF_ONLY_AST:
                self.events.append("compile")
            return real_compile(source, filename, mode, flags, *args, **kwargs)

        def import_watched(name, *args, **kwargs):
            if self.active:
                self.events.append(f"import {name}")
            return real_import(name, *args, **kwargs)

        for module, name in ((builtins, "eval"), (builtins, "exec"), (builtins, "open"), (builtins, "breakpoint"),
                             (builtins, "print"), (os, "system"), (os, "popen"), (os, "remove"),
                             (subprocess, "Popen")):
            monkeypatch.setattr(module, name, record(f"{module.__name__}.{name}"))
        monkeypatch.setattr(builtins, "compile", compile_tree_only)
        monkeypatch.setattr(builtins, "__import__", import_watched)
        for cls in classes:
            monkeypatch.setattr(cls, "__init__", record(f"{cls.__name__}.__init__"))
            if hasattr(cls, "_load_scenario"):
                monkeypatch.setattr(cls, "_load_scenario", record(f"{cls.__name__}._load_scenario"))


def _state(session: BackendSession) -> dict:
    return {name: copy.deepcopy(vars(instance)) for name, instance in session.instances.items()}


@pytest.fixture
def session():
    return BackendSession(["GorillaFileSystem", "MathAPI"], {"GorillaFileSystem": {"root": {"home": {
        "type": "directory", "contents": {"a.txt": {"type": "file", "content": "hi"}}}}}})


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_output_runs_nothing(text, session, monkeypatch):
    before = _state(session)
    watch = Watch(monkeypatch)
    started, watch.active = time.perf_counter(), True
    outcome = session.step(text)
    elapsed, watch.active = time.perf_counter() - started, False
    monkeypatch.undo()
    assert watch.events == []
    assert outcome.failed
    if outcome.calls is None:  # undecodable: nothing of the step ran
        assert outcome.results == [] and outcome.error
    else:
        assert outcome.results and all(r.startswith(ERROR_PREFIX) for r in outcome.results)
    assert _state(session) == before
    assert elapsed < 5


def test_refusals_read_as_bfcls_errors(session):
    assert session.step("[os.system(command='x')]").results == [f"{ERROR_PREFIX}name 'os' is not defined"]
    assert session.step("[_private(x=1)]").results == [f"{ERROR_PREFIX}name '_private' is not defined"]
    assert session.step("[exit()]").results == [f"{ERROR_PREFIX}Function call exit is not allowed."]
    assert session.step("[os.remove(path='x')]").results == [f"{ERROR_PREFIX}Function call remove is not allowed."]
    # an allowed call next to a refused one still runs, as in BFCL
    outcome = session.step("[cd(folder='home'), open(file='f'), pwd()]")
    assert outcome.refused == ["open"] and outcome.results[1:] == [
        f"{ERROR_PREFIX}name 'open' is not defined", '{"current_working_directory": "/home"}']


def test_hostile_trajectory_fails_and_runs_nothing(monkeypatch):
    entry = load_multi_turn_category("multi_turn_base", sample_size=None)[0]
    turns = [list(HOSTILE[i::4]) for i in range(len(entry["ground_truth"]))]
    for class_name in entry["involved_classes"]:
        backend_class(class_name)  # imported before the watch (an import runs its module's code)
    for name in ("system", "popen", "remove"):
        monkeypatch.setattr(os, name, lambda *a, **k: pytest.fail("ran"))
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: pytest.fail("eval ran"))
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: pytest.fail("exec ran"))
    ok, reason = check_trajectory(entry, turns)
    assert not ok and reason.split(":")[0] in ("empty_turn_model_response", "instance_state_mismatch")


def test_literals_only_reach_the_backend():
    """Every decoded value is a plain literal: no code object, callable or module can arrive."""
    allowed = (str, int, float, complex, bool, type(None), bytes, list, tuple, dict)

    def plain(value):
        if isinstance(value, (list, tuple)):
            return all(map(plain, value))
        if isinstance(value, dict):
            return all(map(plain, value)) and all(map(plain, value.values()))
        return type(value) in allowed

    text = "[f(a=1, b=-2.5, c='x', d=[1, (2, {'k': None})], e={'n': True}, g=b'z', h=1j, i=...)]"
    (call,) = decode_step(text)
    assert plain(call.kwargs)


def test_the_watch_sees_what_it_watches(monkeypatch):
    watch = Watch(monkeypatch)
    watch.active = True
    for run in (lambda: builtins.eval("1"), lambda: os.system("true"), lambda: backend_class("MathAPI")(),
                lambda: builtins.compile("1", "<x>", "eval")):
        try:
            run()
        except AssertionError:
            pass
    builtins.__import__("json")
    watch.active = False
    assert watch.events == ["builtins.eval", "os.system", "MathAPI.__init__", "compile", "import json"]


def test_hostile_policy_runs_nothing(monkeypatch):
    """A policy that answers every step with hostile outputs: each turn ends or its calls are
    refused, the errors are fed back, nothing runs."""
    entries = load_multi_turn_category("multi_turn_base", sample_size=3, seed=0)
    run_multi_turn(ScriptedLLM(lambda *a: "Done."), entries)  # loads the backends and BFCL's templates
    answers = iter(HOSTILE * 10)
    llm = ScriptedLLM(lambda *a: next(answers))
    watch = Watch(monkeypatch, backends=False)  # the loop creates each entry's backends itself
    watch.active = True
    trajectories = run_multi_turn(llm, entries)
    watch.active = False
    monkeypatch.undo()
    assert [e for e in watch.events if not e.startswith("import ")] == []
    assert all(not check_trajectory(e, t)[0] for e, t in zip(entries, trajectories))
    tool_messages = [m for conversation in llm.calls for m in conversation if m["role"] == "tool"]
    assert tool_messages and all(m["content"].startswith(ERROR_PREFIX) for m in tool_messages)

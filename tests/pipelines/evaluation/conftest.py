"""The official BFCL checker (bfcl-eval 2026.3.23) as a reference for the evaluation tests.

``bfcl_eval`` imports every provider SDK (openai, anthropic, tree-sitter, ...) through its model
registry; it is installed with ``--no-deps``, so those SDKs are absent. The ``official_bfcl``
fixture puts stub modules for exactly those SDK names on ``sys.meta_path`` while it imports the
checker and the prompt-mode decoder, and removes them (and every ``bfcl_eval`` module) afterwards.
An installed SDK is used as it is: BFCL decodes Java and JavaScript answers with tree-sitter, so
the Java/JavaScript comparisons need the versions bfcl-eval pins (the ``test`` extra installs them;
:data:`TREE_SITTER` says whether they are there).
It also builds BFCL's prompt-mode messages (``messages``, ``system_prompt``) as references for the
evaluation's prompts. The decoder's module-level ``eval`` is wrapped so that each verdict records
whether BFCL evaluated part of the output, and so that verdicts can also be taken with that
``eval`` replaced by an opaque value that equals nothing -- what our decoder does with the same
expressions.
"""

from __future__ import annotations

import builtins
import copy
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections import Counter
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest

#: SDKs that bfcl_eval imports at module level but that the AST checker and decoder never use.
SDK_MODULES = ("anthropic", "boto3", "cohere", "datamodel_code_generator", "google.genai", "httpx", "mistralai",
               "openai", "overrides", "qwen_agent", "tenacity", "tree_sitter", "tree_sitter_java",
               "tree_sitter_javascript", "writerai")
#: A prompt-mode model of the official registry (ToolACE's own entry: names kept dotted).
PROMPT_MODEL = "Team-ACE/ToolACE-2-8B"
#: A function-calling model whose registry entry converts dotted names (``underscore_to_dot``).
FC_MODEL = "gpt-4.1-2025-04-14-FC"

#: Whether tree-sitter and its Java and JavaScript grammars are installed (BFCL's Java/JS decoders).
TREE_SITTER = all(importlib.util.find_spec(m) is not None
                  for m in ("tree_sitter", "tree_sitter_java", "tree_sitter_javascript"))
#: BFCL's ``Language``/``ReturnFormat`` member of each category's answers (Python for the rest).
ENUM_OF = {"simple_java": "JAVA", "simple_javascript": "JAVASCRIPT"}

#: Figures collected by the comparison tests, printed at the end of the run.
AGREEMENT: Counter = Counter()


class _Stub(types.ModuleType):
    __path__: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name[:1].isupper():  # classes: instantiable, subclassable, exceptions where named so
            base = (Exception,) if name.endswith(("Error", "Exception")) else ()
            value = type(name, base, {"__init__": lambda self, *a, **k: None,
                                      "__getattr__": lambda self, attr: mock.MagicMock(name=attr)})
        else:
            value = mock.MagicMock(name=f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _SdkStubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self.stubbed: list[str] = []

    def find_spec(self, fullname, path, target=None):
        if not any(fullname == m or fullname.startswith(m + ".") for m in SDK_MODULES):
            return None
        for finder in sys.meta_path:  # an installed SDK is used as it is
            if finder is not self and getattr(finder, "find_spec", None):
                try:
                    if finder.find_spec(fullname, path, target) is not None:
                        return None
                except (ImportError, ValueError):
                    continue
        self.stubbed.append(fullname)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        return _Stub(spec.name)

    def exec_module(self, module):
        return None


class Opaque:
    """Stands in for an expression BFCL would evaluate: hashable, equal only to itself."""


@dataclass
class OfficialVerdict:
    valid: bool | None  # None: the official checker raised (the leaderboard run would crash)
    used_eval: bool
    decoded: list | None
    decode_error: bool = False  # the decoder raised (JavaScript's also returns None for no call)


class OfficialBfcl:
    """``verdict(...)`` reproduces eval_runner's single-turn path with the official functions."""

    def __init__(self) -> None:
        self.checker = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
        self.decoder = importlib.import_module("bfcl_eval.model_handler.utils")
        self.utils = importlib.import_module("bfcl_eval.utils")
        self.enums = importlib.import_module("bfcl_eval.constants.enums")
        self.evaluate = True
        self.eval_calls = 0
        self.decoder.eval = self._eval  # module global shadows the builtin inside the decoder

    def _eval(self, source, *args):
        self.eval_calls += 1
        if not self.evaluate:
            return Opaque()
        return builtins.eval(source, vars(self.decoder))

    def messages(self, entry: dict, category: str) -> list[dict]:
        """The messages BFCL's prompt-mode handlers send for an entry's first turn: the language
        hint added to the function docs as its data loader does, then the system prompt of the
        format the entry's id names (the default one for plain ids)."""
        functions = self.utils._func_doc_language_specific_pre_processing(copy.deepcopy(entry["function"]), category)
        return self.decoder.system_prompt_pre_processing_chat_model(copy.deepcopy(entry["question"][0]), functions,
                                                                     entry["id"])

    def system_prompt(self, functions: list[dict], prompt_format: str) -> str:
        """BFCL's ``formulate_system_prompt`` for a format string (the functions taken as given)."""
        return self.decoder.formulate_system_prompt(prompt_format, copy.deepcopy(functions))

    def decode(self, output: str, evaluate: bool = True, category: str = "simple_python",
               return_format: str | None = None, has_tool_call_tag: bool = False):
        """BFCL's prompt-mode decoder; ``return_format`` (``python``, ``json``, ``verbose_xml``,
        ``concise_xml``) overrides the category's language, as format_sensitivity's runner does."""
        self.evaluate = evaluate
        if return_format is None:
            fmt = getattr(self.enums.ReturnFormat, ENUM_OF.get(category, "PYTHON"))
        else:
            fmt = self.enums.ReturnFormat(return_format)
        return self.decoder.default_decode_ast_prompting(output, fmt, has_tool_call_tag)

    def format_sensitivity(self) -> tuple[list[dict], list[dict]]:
        """bfcl-eval's own format-sensitivity entries (as its generation loads them: the Python hint
        added by both loaders) and their ground-truth entries, aligned by index; read once."""
        if not hasattr(self, "_format_sensitivity"):
            self._format_sensitivity = (self.utils.load_dataset_entry("format_sensitivity"),
                                        self.utils.load_ground_truth_entry("format_sensitivity"))
        return self._format_sensitivity

    def format_messages(self, bfcl_entry: dict) -> list[dict]:
        """The messages BFCL's prompt-mode handlers send for one of its format-sensitivity entries."""
        return self.decoder.system_prompt_pre_processing_chat_model(
            copy.deepcopy(bfcl_entry["question"][0]), copy.deepcopy(bfcl_entry["function"]), bfcl_entry["id"])

    def format_verdict(self, entry: dict, answer: list, output: str, *, evaluate: bool = True,
                       model_name: str = PROMPT_MODEL) -> OfficialVerdict:
        """eval_runner's ``format_sensitivity_runner`` for one output of a format-sensitivity entry
        (``entry["id"]`` BFCL's id): the format's decoder, the format check, then ``ast_checker``
        with the source entry's id as its category (which picks the parallel/multiple rule).
        ``evaluate=False`` as in :meth:`verdict`."""
        return_format, tag, *_ = self.decoder.parse_prompt_variation_params(entry["id"].split(":")[1])
        before = self.eval_calls
        try:
            decoded = self.decode(output, evaluate, return_format=return_format, has_tool_call_tag=tag)
            decode_error = False
        except Exception:  # noqa: BLE001 -- the runner counts any decoder exception as a decode failure
            decoded, decode_error = None, True
        used_eval = self.eval_calls > before
        if decoded is None or not self.utils.is_function_calling_format_output(decoded):
            return OfficialVerdict(False, used_eval, decoded, decode_error)
        try:
            result = self.checker.ast_checker(entry["function"], decoded, answer, self.enums.Language.PYTHON,
                                              entry["id"].split(":")[-1], model_name)
        except Exception:  # noqa: BLE001 -- the leaderboard run would crash: reported as None
            return OfficialVerdict(None, used_eval, decoded, decode_error)
        return OfficialVerdict(bool(result["valid"]), used_eval, decoded, decode_error)

    def verdict(self, category: str, entry: dict, answer: list | None, output: str, *, evaluate: bool = True,
                model_name: str = PROMPT_MODEL) -> OfficialVerdict:
        """``evaluate=False``: BFCL's ``eval`` returns an :class:`Opaque` value instead of evaluating."""
        before = self.eval_calls
        decode_error = False
        try:
            decoded = self.decode(output, evaluate, category)
        except Exception:
            decoded, decode_error = None, True
        used_eval = self.eval_calls > before
        if "relevance" in category:
            contains_call = decoded is not None and not self.utils.is_empty_output(decoded)
            ok = not contains_call if "irrelevance" in category else contains_call
            return OfficialVerdict(ok, used_eval, decoded, decode_error)
        if decoded is None or not self.utils.is_function_calling_format_output(decoded):
            return OfficialVerdict(False, used_eval, decoded, decode_error)
        try:
            language = getattr(self.enums.Language, ENUM_OF.get(category, "PYTHON"))
            result = self.checker.ast_checker(entry["function"], decoded, answer, language, category, model_name)
        except Exception:
            return OfficialVerdict(None, used_eval, decoded, decode_error)
        return OfficialVerdict(bool(result["valid"]), used_eval, decoded, decode_error)


@pytest.fixture(scope="session")
def official_bfcl():
    finder = _SdkStubFinder()
    before = set(sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        yield OfficialBfcl()
    finally:
        sys.meta_path.remove(finder)
        for name in set(sys.modules) - before:
            if name.startswith("bfcl_eval") or name in finder.stubbed:
                del sys.modules[name]


def pytest_terminal_summary(terminalreporter):
    if AGREEMENT:
        terminalreporter.write_sep("-", "BFCL checker agreement (ours vs bfcl-eval 2026.3.23)")
        for key, value in sorted(AGREEMENT.items()):
            terminalreporter.write_line(f"{key}: {value}")

"""A scripted LLM client for tests: answers come from a function of the conversation."""

from __future__ import annotations

from typing import Any, Callable

from toolace_kedro.llm.base import Completion, LLMClient, LLMConfig


class ScriptedLLM(LLMClient):
    """``respond(messages, sampling, json_schema) -> str | Completion``; records every request."""

    backend = "scripted"

    def __init__(self, respond: Callable[..., Any], **config: Any) -> None:
        super().__init__(LLMConfig(**{"model": "scripted", **config}))
        self.respond = respond
        self.calls: list[list[dict[str, Any]]] = []

    def _generate(self, conversations, sampling, schemas, on_result):
        for i, (conv, params, schema) in enumerate(zip(conversations, sampling, schemas)):
            self.calls.append(conv)
            answer = self.respond(conv, params, schema)
            on_result(i, answer if isinstance(answer, Completion) else Completion(text=answer, completion_tokens=1))


class Killed(BaseException):
    """A kill as seen from inside the process: nothing after it runs (no ``except Exception``)."""


def dying_after(respond: Callable[..., Any], answered: int) -> ScriptedLLM:
    """A :class:`ScriptedLLM` that answers ``answered`` requests, then raises :class:`Killed`."""

    def answer(*args: Any) -> Any:
        if len(llm.calls) > answered:
            raise Killed
        return respond(*args)

    llm = ScriptedLLM(answer)
    return llm

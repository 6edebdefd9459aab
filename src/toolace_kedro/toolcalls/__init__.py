"""Data contracts shared by every stage: API definitions, canonical dialogs, call text, formats."""

from toolace_kedro.toolcalls.dialog import (
    DIALOG_TYPES,
    AssistantMessage,
    DialogSample,
    ToolCall,
    ToolMessage,
    ToolResult,
    UserMessage,
    contract_problems,
)
from toolace_kedro.toolcalls.formats import (
    CALL_FORMATS,
    PROMPT_TOOL_FIELDS,
    from_toolace,
    from_trl,
    render_assistant_calls,
    system_prompt,
    to_toolace,
    to_trl,
    tools_from_system_prompt,
    training_messages,
)
from toolace_kedro.toolcalls.parsing import ToolCallParseError, parse_calls, render_calls, render_calls_json
from toolace_kedro.toolcalls.schema import (
    ApiDefinition,
    ArgumentProblem,
    api_problems,
    check_arguments,
    normalize_api,
    normalize_schema,
)

__all__ = [
    "CALL_FORMATS",
    "PROMPT_TOOL_FIELDS",
    "DIALOG_TYPES",
    "ApiDefinition",
    "ArgumentProblem",
    "AssistantMessage",
    "DialogSample",
    "ToolCall",
    "ToolCallParseError",
    "ToolMessage",
    "ToolResult",
    "UserMessage",
    "api_problems",
    "check_arguments",
    "contract_problems",
    "from_toolace",
    "from_trl",
    "normalize_api",
    "normalize_schema",
    "parse_calls",
    "render_assistant_calls",
    "render_calls",
    "render_calls_json",
    "system_prompt",
    "to_toolace",
    "to_trl",
    "tools_from_system_prompt",
    "training_messages",
]

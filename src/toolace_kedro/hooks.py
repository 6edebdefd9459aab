"""Project hooks: thin by design."""

from __future__ import annotations

import logging

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from toolace_kedro.llm.credentials import register_credentials

logger = logging.getLogger(__name__)


class CredentialsHook:
    """Hands ``conf/<env>/credentials.yml`` to the LLM layer, which keeps keys out of parameters
    (parameters are logged to MLflow; credentials never are)."""

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            credentials = context.config_loader["credentials"]
        except MissingConfigException:  # no credentials file: fine for local servers
            credentials = {}
        register_credentials(credentials)

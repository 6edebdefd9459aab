"""Project settings (Kedro 1.7). kedro-mlflow registers its own hooks through its entry point."""

from kedro.config import OmegaConfigLoader

from toolace_kedro.hooks import (
    CredentialsHook,
    IrftRoundsHook,
    MlflowCatalogHook,
    NodeResourcesHook,
    ParametersHook,
    RunTagsHook,
)

HOOKS = (CredentialsHook(), IrftRoundsHook(), ParametersHook(), NodeResourcesHook(), RunTagsHook(),
         MlflowCatalogHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # an environment's parameter blocks are merged into base's key by key, so conf/paper holds only
    # what differs from conf/base (catalog entries are still replaced whole); likewise an
    # environment's globals.yml sets only the roots it moves
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
}

"""toolace_kedro: ToolACE data synthesis and iTool iterative reinforced fine-tuning on Kedro."""

__version__ = "0.1.0"

"""Subcommands of ``crmwh``, one module per area, each with ``register(subparsers)``."""

"""Exceptions wattwatch raises to its users."""

from __future__ import annotations

__all__ = ["ConfigurationError", "UsageError"]


class ConfigurationError(ValueError):
    """A tracker was configured wrongly; raised by the constructor or ``start()``, before the user's work."""


class UsageError(ValueError):
    """A CLI command was called wrongly; printed as one line, exit code 2."""

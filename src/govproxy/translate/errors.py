"""Errors raised by translation. Messages name the field, never echo prompt content."""

from __future__ import annotations


class TranslationError(ValueError):
    """A body that cannot be expressed in the target format (or is not a valid source body).

    The router can treat it like an unavailable candidate and try the next one.
    """

"""Errors raised by generation backends.

``BackendUnavailable``: the backend cannot be used on this machine at all (a library or a device
is missing); retrying is pointless, the message says what to install. ``BackendError``: a
backend that is there failed to answer (after its own retries, where it has any); the message
says what happened.
"""
from __future__ import annotations


class BackendUnavailable(RuntimeError):
    """A backend's library or hardware is missing; the message says how to get it."""


class BackendError(RuntimeError):
    """A backend failed to produce completions; the message says what happened."""

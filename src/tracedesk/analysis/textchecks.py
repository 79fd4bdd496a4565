"""Cheap text checks shared by evaluators, alert signals and drift (no model, no network).

The refusal check lives in `refusals` (its rules, and the user's phrase lists read through the store);
this name is kept for callers that need only the built-in rules.
"""
from __future__ import annotations

from .refusals import is_refusal

__all__ = ["is_refusal"]

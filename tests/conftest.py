"""Test-wide settings: Hypothesis without per-example deadlines (CI machines vary)."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("default", deadline=None, print_blob=True)
settings.load_profile("default")

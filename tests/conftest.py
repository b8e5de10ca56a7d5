"""Shared fixtures. `../shared` (reference data, not ours) is located through GIFNET_SHARED; tests that need it skip
cleanly when it is absent (a user's clone) and run when it is present (CI always has it)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GIFNET_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "README.md").is_file():
        pytest.skip(f"reference data not found at {SHARED} (set GIFNET_SHARED)")
    return SHARED

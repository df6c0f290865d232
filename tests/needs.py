"""The one rule for what tests need from outside the repo (../shared data, Krita, GIMP):
missing under CI=true is a failure, elsewhere the test is skipped."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)

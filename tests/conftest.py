"""Test-wide setup: an isolated DEEPSENTRY_HOME so no test touches the user's config or data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def deepsentry_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("deepsentry-home")
    old = os.environ.get("DEEPSENTRY_HOME")
    os.environ["DEEPSENTRY_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("DEEPSENTRY_HOME", None)
    else:
        os.environ["DEEPSENTRY_HOME"] = old

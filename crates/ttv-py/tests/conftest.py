"""Every test runs in its own folder with its own job store, with no provider key or ttv
setting from the environment (so no developer's configuration leaks in and no real provider
is reached)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support import Simulator  # noqa: E402

_LEAKY = (
    "TTV_", "RUNWAY", "MINIMAX", "FAL_", "GEMINI", "GOOGLE", "KLINGAI", "LUMA", "REPLICATE",
    "ARK_", "DASHSCOPE", "OPENAI", "STABILITY", "AWS_", "STORAGE_EMULATOR",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith(_LEAKY):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TTV_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """The simulator with every provider answering at once (tasks run 0.2 s)."""
    s = Simulator(None, "--queue-secs", "0", "--run-secs", "0.2")
    yield s
    s.stop()


@pytest.fixture
def start_sim() -> Iterator:
    """Starts simulators with a scenario and flags; stops them after the test."""
    started = []

    def start(scenario=None, *flags: str) -> Simulator:
        s = Simulator(scenario, *flags)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()

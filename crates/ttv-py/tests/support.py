"""Test helpers: the provider simulator (`ttv-sim`) in a child process, a PNG writer for input
images, and an MP4 reader that checks what ttv wrote without asking ttv.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

# The key every simulated provider accepts (the simulator is started with `--api-key`).
KEY = "sim-py-key"

REPO = Path(__file__).resolve().parents[3]
# Read once, before the tests clear ttv's variables from the environment.
_SIM_BIN = os.environ.get("TTV_SIM_BIN")


def sim_binary() -> Optional[str]:
    """`TTV_SIM_BIN`, else the workspace's debug build, else `ttv-sim` on the PATH."""
    if _SIM_BIN:
        return _SIM_BIN
    built = REPO / "target" / "debug" / "ttv-sim"
    if built.exists():
        return str(built)
    return shutil.which("ttv-sim")


class Simulator:
    """A running `ttv-sim`: its base URLs and what it recorded."""

    def __init__(self, scenario: Optional[Dict[str, Any]] = None, *flags: str) -> None:
        binary = sim_binary()
        if binary is None:
            message = "ttv-sim is not built (cargo build -p ttv-sim) and TTV_SIM_BIN is not set"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        self._dir = tempfile.TemporaryDirectory()
        config: Dict[str, Any] = {"api_key": KEY, "video_max_side": 160}
        config.update(scenario or {})
        path = Path(self._dir.name) / "scenario.yaml"
        path.write_text(json.dumps(config))
        self.process = subprocess.Popen(
            [binary, "--json", "--scenario", str(path), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            err = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"ttv-sim did not start: {err}")
        self.urls: Dict[str, str] = json.loads(line)
        self.admin = self.urls["admin"].rsplit("/_sim/", 1)[0]

    def url(self, provider: str) -> str:
        """The provider's base URL (`runway`, `gemini`, `minimax`, `fal`, ...)."""
        return self.urls[provider]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.admin}{path}") as answer:
            return json.loads(answer.read())

    def paid_submits(self) -> Dict[str, int]:
        """Paid submits per provider, as the simulator counted them."""
        return self.get("/_sim/paid_submits")

    def tasks(self) -> List[Dict[str, Any]]:
        """Every task's timeline."""
        return self.get("/_sim/tasks")

    def requests(self) -> List[Dict[str, Any]]:
        """Every request received."""
        return self.get("/_sim/requests")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self._dir.cleanup()


def backend_config(sim: Simulator, backend: str, **more: Any) -> Dict[str, Any]:
    """A configuration dict (the original pipeline's keys) pointing `backend` at the
    simulator, polling fast."""
    sections: Dict[str, Dict[str, Any]] = {
        "runway": {"runway_ml": {"api_key": KEY, "base_url": sim.url("runway")}},
        "veo3": {"google_veo": {"api_key": KEY, "base_url": sim.url("gemini")}},
        "minimax": {"minimax": {"api_key": KEY, "base_url": sim.url("minimax")}},
        "fal": {"fal": {"api_key": KEY, "base_url": sim.url("fal")}},
        "kling": {
            "kling": {
                "access_key": KEY,
                "secret_key": "sim-secret",
                "base_url": sim.url("kling"),
            }
        },
        "luma": {"luma": {"api_key": KEY, "base_url": sim.url("luma") + "/v1"}},
        "replicate": {"replicate": {"api_key": KEY, "base_url": sim.url("replicate")}},
        "seedance": {"seedance": {"api_key": KEY, "base_url": sim.url("seedance") + "/api/v3"}},
        "alibaba": {"alibaba": {"api_key": KEY, "base_url": sim.url("dashscope") + "/api/v1"}},
        "animatic": {},
    }
    config: Dict[str, Any] = {"remote_api_settings": {"polling_interval": 0.05}}
    config.update(sections[backend])
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def all_hosted(sim: Simulator, **more: Any) -> Dict[str, Any]:
    """One configuration with every hosted backend pointed at the simulator."""
    config: Dict[str, Any] = {}
    for backend in ("runway", "veo3", "minimax", "fal", "kling", "luma", "replicate",
                    "seedance", "alibaba"):
        config.update(backend_config(sim, backend))
    config.update(more)
    return config


def write_png(path: Path, width: int = 640, height: int = 360) -> Path:
    """A deterministic RGB PNG (a diagonal gradient) of `width`x`height`."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += bytes(((x * 255) // width, (y * 255) // height, ((x + y) * 3) % 256))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(png)
    return path


# --- MP4 ---------------------------------------------------------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"bad box {kind!r} at {pos}")
        yield kind, pos + header, pos + size
        pos += size


def probe_mp4(path: Path) -> Dict[str, Any]:
    """What the MP4 at `path` holds, read from its boxes: the video track's codec, size,
    duration, sample count and sync samples, and the box order (fast-start)."""
    data = Path(path).read_bytes()
    top = [kind for kind, _, _ in _boxes(data, 0, len(data))]
    info: Dict[str, Any] = {"top": top}
    moov = next((b, e) for k, b, e in _boxes(data, 0, len(data)) if k == b"moov")

    def walk(start: int, end: int, track: Dict[str, Any]) -> None:
        for kind, body, stop in _boxes(data, start, end):
            if kind in _CONTAINERS:
                walk(body, stop, track)
            elif kind == b"hdlr":
                track["handler"] = data[body + 8:body + 12]
            elif kind == b"mdhd":
                version = data[body]
                if version == 1:
                    timescale, duration = struct.unpack(">IQ", data[body + 20:body + 32])
                else:
                    timescale, duration = struct.unpack(">II", data[body + 12:body + 20])
                track["duration_secs"] = duration / timescale
            elif kind == b"stsd":
                entry = body + 8
                track["codec"] = data[entry + 4:entry + 8].decode("ascii")
                track["width"], track["height"] = struct.unpack(
                    ">HH", data[entry + 8 + 24:entry + 8 + 28]
                )
            elif kind == b"stsz":
                track["samples"] = struct.unpack(">I", data[body + 8:body + 12])[0]
            elif kind == b"stss":
                count = struct.unpack(">I", data[body + 4:body + 8])[0]
                track["sync"] = list(
                    struct.unpack(f">{count}I", data[body + 8:body + 8 + 4 * count])
                )

    for kind, body, stop in _boxes(data, moov[0], moov[1]):
        if kind == b"trak":
            track: Dict[str, Any] = {}
            walk(body, stop, track)
            if track.get("handler") == b"vide":
                info.update(track)
    return info


def assert_playable(path: Path, seconds: float, fps: int = 8) -> Dict[str, Any]:
    """Asserts the file is an H.264 MP4 of `seconds` at `fps` (the simulator's 8 fps) whose
    first sample is a keyframe; returns the probe."""
    info = probe_mp4(path)
    assert info["codec"] == "avc1", info
    assert info["samples"] == round(seconds * fps), info
    assert abs(info["duration_secs"] - seconds) < 0.2, info
    assert info.get("sync", [1])[0] == 1, info
    assert info["width"] > 0 and info["height"] > 0, info
    return info

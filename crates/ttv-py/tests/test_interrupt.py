"""Ctrl-C (SIGINT, KeyboardInterrupt) while a job runs cancels the remote job, as the ttv
command does: the simulator records the cancel, the job store says cancelled, and no video is
left at the output path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import backend_config, write_png

import ttv

SCRIPT = """
import json, sys
import ttv

client = ttv.Client(config=json.loads(sys.argv[1]))
try:
    client.generate("a kite", image=sys.argv[2], duration=5, backend="runway",
                    out="kite.mp4", job_id="kite-1")
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
print("finished", flush=True)
"""


def test_ctrl_c_cancels_the_remote_job(start_sim, isolated):
    sim = start_sim(None, "--queue-secs", "0", "--run-secs", "60")
    config = backend_config(sim, "runway")
    image = write_png(isolated / "k.png", 320, 180)
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(config), str(image)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 30
        while not any(t.get("running_at") for t in sim.tasks()):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the job never started running"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, (out, err)
    assert "interrupted" in out
    [task] = sim.tasks()
    assert task["outcome"] == "cancelled"
    assert [r["endpoint"] for r in sim.requests()].count("cancel") == 1
    assert sim.paid_submits()["runway"] == 1
    assert ttv.Client(config=config).job("kite-1").state == "cancelled"
    assert not Path("kite.mp4").exists()

"""`pipeline_like.py` (the original pipeline's way of calling its generators, written here)
runs unchanged on ttv: with `import ttv.generators as generators` it makes every segment,
falls back to the configured backend when the default one fails, and pays once per segment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import assert_playable, backend_config, write_png

SCRIPT = Path(__file__).with_name("pipeline_like.py")


def test_the_pipelines_generator_calls_run_unchanged(start_sim, isolated):
    # Runway refuses its second and fourth submits (content moderation: a GenerationError);
    # kling, the configured fallback, makes those segments.
    sim = start_sim(
        {
            "runway": {
                "faults": [
                    {"on": "submit", "nth": 2, "fault": "moderation"},
                    {"on": "submit", "nth": 4, "fault": "moderation"},
                ]
            }
        },
        "--queue-secs", "0", "--run-secs", "0.2",
    )
    config = backend_config(sim, "runway")
    config.update(backend_config(sim, "kling"))
    config["default_backend"] = "runway"
    config["remote_api_settings"] = {"polling_interval": 0.05, "fallback_backend": "kling"}
    Path("config.json").write_text(json.dumps(config))
    keyframe = write_png(isolated / "keyframe.png")
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "config.json", str(keyframe), "out",
         "A boat leaves the harbour", "It sails past the lighthouse", "Night falls"],
        capture_output=True, text=True, env=dict(os.environ), timeout=300,
    )
    assert run.returncode == 0, run.stderr
    made = json.loads(run.stdout.strip().splitlines()[-1])
    assert [(m["segment"], m["backend"]) for m in made["chaining"]] == [
        (1, "runway"), (2, "kling"), (3, "kling"),
    ]
    assert [(m["segment"], m["backend"]) for m in made["single_keyframe"]] == [
        (1, "runway"), (2, "kling"), (3, "runway"),
    ]
    for m in made["chaining"] + made["single_keyframe"]:
        assert_playable(Path(m["path"]), 5.0)
    # Runway took five submits (the two it failed for moderation were submitted, so paid
    # for); kling made three segments; nothing was submitted twice.
    paid = sim.paid_submits()
    assert (paid["runway"], paid["kling"]) == (5, 3)

"""The Pythonic API against the simulator: results with the sidecar's fields, jobs, status,
cancel, the job id as an idempotency key, estimates, spend, the film pipeline, help()."""

from __future__ import annotations

import json
import pydoc
from pathlib import Path

import pytest

from support import KEY, assert_playable, backend_config, probe_mp4, write_png

import ttv


def test_generate_returns_the_video_with_its_sidecar_fields(sim, isolated):
    client = ttv.Client(config=backend_config(sim, "runway"))
    events = []
    video = client.generate(
        "a lighthouse at dusk",
        image=write_png(isolated / "k.png"),
        duration=5,
        backend="runway",
        out="clip.mp4",
        job_id="clip-1",
        progress=events.append,
    )
    assert isinstance(video, ttv.Video)
    assert video.path == "clip.mp4" and video.job_id == "clip-1"
    assert video.backend == "runway" and video.model
    sidecar = json.loads(Path(video.sidecar_path).read_text())
    assert video.video == sidecar["video"]
    assert video.cost == sidecar["cost"] and video.ticket == sidecar["ticket"]
    assert video.estimated_usd and video.estimated_usd > 0
    assert_playable(Path("clip.mp4"), 5.0)
    stages = [e.stage for e in events]
    assert "submitted" in stages and stages[-1] == "verifying", stages
    assert all(e.job_id == "clip-1" for e in events)

    # The same job id carries the job on: nothing is paid again.
    again = client.generate(
        "a lighthouse at dusk", image=isolated / "k.png", duration=5, backend="runway",
        out="clip.mp4", job_id="clip-1",
    )
    assert again.already_done and again.video["sha256"] == video.video["sha256"]
    assert sim.paid_submits()["runway"] == 1

    [record] = client.jobs()
    assert record.id == "clip-1" and record.state == "done" and record.backend == "runway"
    assert client.jobs(state="failed") == []
    spend = client.spend()
    assert spend.total_usd > 0
    assert [e["job_id"] for e in spend.jobs] == ["clip-1"]
    assert spend.lines[0]["backend"] == "runway"


def test_submit_status_wait_and_cancel(start_sim, isolated):
    sim = start_sim(None, "--run-secs", "30")
    client = ttv.Client(config=backend_config(sim, "runway"))
    job = client.submit("a kite", image=write_png(isolated / "k.png"), duration=5,
                        backend="runway", out="kite.mp4")
    assert isinstance(job, ttv.Job) and job.backend == "runway"
    with pytest.raises(TimeoutError):
        job.wait(timeout=0.5)
    status = job.status()
    assert status.state in ("submitted", "running") and not status.done
    assert status.progress is not None
    job.cancel()
    with pytest.raises(ttv.JobCancelled) as raised:
        job.wait()
    assert raised.value.spend == "yes"
    assert client.job(job.id).state == "cancelled"
    [task] = sim.tasks()
    assert task["outcome"] == "cancelled"
    assert any(r["endpoint"] == "cancel" for r in sim.requests())
    assert not Path("kite.mp4").exists()


def test_estimate_validate_and_backends_spend_nothing(sim, isolated):
    client = ttv.Client(config=backend_config(sim, "runway"))
    estimate = client.estimate("a kite", image=write_png(isolated / "k.png"), duration=10,
                               backend="runway")
    assert estimate.backend == "runway" and estimate.usd > 0
    assert estimate.resolved["duration"] == 10.0
    problems = client.validate("a kite", backend="runway", duration=7, fps="fast")
    assert any(p.startswith("fps:") for p in problems), problems
    with pytest.raises(ttv.InvalidInputError) as raised:
        client.generate("a kite", backend="runway", duration=-1, seed=-3)
    assert {p.field for p in raised.value.problems} >= {"duration", "seed"}
    names = {b.name: b for b in client.backends()}
    assert names["runway"].available and names["animatic"].available
    assert not names["wan"].available and "wan2_dir" in names["wan"].reason
    assert sim.paid_submits()["runway"] == 0
    assert client.jobs() == []


def test_a_bad_configuration_names_the_key(isolated):
    with pytest.raises(ttv.ConfigurationError) as raised:
        ttv.Client(config={"budget": {"per_dya": 5}})
    assert "budget" in str(raised.value)
    assert raised.value.kind == "config"


def test_a_config_file_path_and_the_animatic_default(isolated):
    Path("ttv.yaml").write_text("size: 320x180\nanimatic:\n  fps: 12\n")
    client = ttv.Client(config="ttv.yaml")
    video = client.generate("A title card", duration=1, out="title.mp4")
    assert video.backend == "animatic"
    info = assert_playable(Path("title.mp4"), 1.0, 12)
    assert (info["width"], info["height"]) == (320, 180)


def test_film_chaining_joins_the_segments(isolated):
    client = ttv.Client(config={"size": "320x180", "animatic": {"fps": 12}})
    events = []
    film = client.film(
        prompt="A boat leaves the harbour. It sails into the sunset.",
        mode="chaining",
        duration=4,
        segment_duration=2,
        out="film.mp4",
        progress=events.append,
    )
    assert isinstance(film, ttv.Film) and Path(film.path).exists()
    info = probe_mp4(Path(film.path))
    assert info["codec"] == "avc1"
    assert abs(info["duration_secs"] - 4.0) < 0.2, info
    assert info["samples"] == 48, info
    segments = [e for e in events if e.data.get("event") == "segment"]
    assert segments, [e.data for e in events]
    assert len({j.id for j in client.jobs()}) == 2


def test_help_shows_the_docstrings():
    text = pydoc.render_doc(ttv.Client, renderer=pydoc.plaintext)
    assert "agenerate" in text and "idempotency key" in text
    factory = pydoc.render_doc(ttv.generators.create_video_generator, renderer=pydoc.plaintext)
    assert "whole configuration" in factory
    assert ttv.Job.wait.__doc__ and "KeyboardInterrupt" in ttv.Job.wait.__doc__


def test_keys_stay_out_of_records_errors_and_reprs(sim, isolated):
    config = backend_config(sim, "runway")
    client = ttv.Client(config=config)
    image = write_png(isolated / "k.png", 320, 180)
    video = client.generate("a kite", image=image, duration=5, backend="runway", out="kite.mp4")
    wrong = backend_config(sim, "runway", runway_ml={"api_key": "sim-wrong-key-123"})
    with pytest.raises(ttv.AuthenticationError) as raised:
        ttv.Client(config=wrong).generate("a kite", image=image, duration=5, backend="runway",
                                          out="refused.mp4")
    assert raised.value.kind == "auth" and raised.value.spend == "no"
    texts = [
        Path(video.sidecar_path).read_text(),
        repr(client),
        repr(video),
        json.dumps([j.record for j in client.jobs()]),
        str(raised.value),
        repr(raised.value),
    ]
    texts += [
        p.read_bytes().decode("latin-1") for p in Path(client.data_dir).rglob("*") if p.is_file()
    ]
    for text in texts:
        assert KEY not in text and "sim-wrong-key-123" not in text

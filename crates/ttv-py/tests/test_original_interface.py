"""The original pipeline's generator interface, served by ttv, against the simulator: every
hosted backend and the animatic, called with the original's keyword names, checked on the
MP4 written and the simulator's paid-submit count; and the original's exception classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import KEY, assert_playable, backend_config, probe_mp4, write_png

import ttv.generators as generators
from ttv.generators import exceptions as gen_exc
from ttv.generators.factory import create_video_generator, get_fallback_generator
from ttv.video_generator_interface import (
    APIError,
    GenerationTimeoutError,
    InvalidInputError,
    QuotaExceededError,
    VideoGenerationError,
    VideoGeneratorInterface,
)

ORIGINAL_KEYS = (
    "max_duration",
    "supported_resolutions",
    "supports_image_to_video",
    "supports_text_to_video",
    "requires_gpu",
    "api_based",
)

# Backend name given to the factory -> (section in backend_config, the simulator's provider,
# ttv's canonical name, a clip length the default model offers).
HOSTED = {
    "runway": ("runway", "runway", "runway", 5.0),
    "veo3": ("veo3", "gemini", "veo", 6.0),
    "minimax": ("minimax", "minimax", "minimax", 6.0),
    "fal": ("fal", "fal", "fal", 5.0),
    "fal.ai": ("fal", "fal", "fal", 5.0),
    "kling": ("kling", "kling", "kling", 5.0),
    "luma": ("luma", "luma", "luma", 5.0),
    "replicate": ("replicate", "replicate", "replicate", 5.0),
    "seedance": ("seedance", "seedance", "seedance", 5.0),
    "alibaba": ("alibaba", "dashscope", "alibaba", 5.0),
}


def paid(sim) -> dict:
    return {k: v for k, v in sim.paid_submits().items() if v}


@pytest.mark.parametrize("backend", sorted(HOSTED))
def test_a_hosted_backend_makes_a_playable_segment_through_the_original_interface(
    backend, sim, isolated
):
    section, provider, canonical, seconds = HOSTED[backend]
    config = backend_config(sim, section)
    image = write_png(isolated / "keyframe.png")

    generator = create_video_generator(backend, config)
    assert isinstance(generator, VideoGeneratorInterface)
    assert generator.is_available()
    assert generator.get_backend_name() == backend
    capabilities = generator.get_capabilities()
    for key in ORIGINAL_KEYS:
        assert key in capabilities, key
    assert capabilities["api_based"] is True and capabilities["requires_gpu"] is False
    assert capabilities["name"] == canonical
    assert capabilities["max_duration"] >= seconds
    # The pipeline passes a keyframe; a backend whose default model makes video from text
    # only (fal's) gets none.
    keyframe = str(image) if capabilities["supports_image_to_video"] else None
    assert generator.validate_inputs(
        prompt="a kite over the sea", input_image_path=keyframe, duration=seconds
    ) == []
    size = capabilities["supported_resolutions"][0]
    cost = generator.estimate_cost(duration=seconds, resolution=size)
    assert isinstance(cost, float) and cost > 0
    assert paid(sim) == {}, "nothing is paid before generate_video"

    out = isolated / "segments" / "segment_001.mp4"
    path = generator.generate_video(
        prompt="a kite over the sea",
        input_image_path=keyframe,
        output_path=str(out),
        duration=seconds,
    )
    assert path == str(out)
    assert_playable(out, seconds)
    assert paid(sim) == {provider: 1}, "exactly one paid submit"
    sidecar = json.loads(Path(f"{out}.json").read_text())
    assert sidecar["backend"] == canonical
    assert sidecar["resolved"]["mode"] == ("image_to_video" if keyframe else "text_to_video")
    assert generator.last_video is not None
    assert generator.last_video.video["sha256"] == sidecar["video"]["sha256"]


def test_the_animatic_makes_a_segment_with_no_key_and_no_cost(isolated):
    image = write_png(isolated / "keyframe.png", 320, 180)
    generator = generators.create_video_generator("animatic", {"size": "320x180"})
    capabilities = generator.get_capabilities()
    assert capabilities["api_based"] is False and capabilities["requires_gpu"] is False
    assert capabilities["supports_text_to_video"] and capabilities["supports_image_to_video"]
    assert generator.estimate_cost(2.0) == 0.0
    out = isolated / "anim.mp4"
    path = generator.generate_video("a slow push-in", str(image), str(out), duration=2.0)
    assert path == str(out)
    fps = generator.last_video.resolved["fps"]
    info = assert_playable(out, 2.0, fps)
    assert (info["width"], info["height"]) == (320, 180)
    # Text to video: no image at all.
    text_out = isolated / "title.mp4"
    generator.generate_video("A title card", None, str(text_out), duration=1.0)
    assert_playable(text_out, 1.0, fps)


def test_the_original_factory_names_and_the_registry(isolated):
    for name in ("wan2.1", "hunyuan", "runway", "veo3", "minimax", "fal", "fal.ai"):
        assert name in generators.GENERATOR_REGISTRY
    with pytest.raises(VideoGenerationError, match="Unknown video generation backend: 'sora9'"):
        create_video_generator("sora9", {})
    # Without a key or a local model the factory refuses, as the original does.
    for name, needs in (("runway", "RUNWAYML_API_SECRET"), ("wan2.1", "wan2_dir")):
        with pytest.raises(VideoGenerationError) as raised:
            create_video_generator(name, {})
        assert isinstance(raised.value, gen_exc.ServiceUnavailableError)
        assert needs in str(raised.value)


def test_bad_inputs_are_listed_all_at_once_and_nothing_is_paid(sim, isolated):
    generator = create_video_generator("runway", backend_config(sim, "runway"))
    [missing] = generator.validate_inputs(
        prompt="a kite", input_image_path=str(isolated / "missing.png"), duration=5.0
    )
    assert missing.startswith("image:") and "missing.png" in missing
    image = str(write_png(isolated / "k.png"))
    [too_long] = generator.validate_inputs(prompt="a kite", input_image_path=image, duration=11.0)
    assert too_long.startswith("duration: 11s; expected"), too_long

    with pytest.raises(InvalidInputError) as raised:
        generator.generate_video(
            prompt="a kite",
            input_image_path=image,
            output_path=str(isolated / "never.mp4"),
            duration=11.0,
            seed=-1,
        )
    err = raised.value
    # One class for both original modules.
    assert isinstance(err, gen_exc.InvalidInputError) and isinstance(err, VideoGenerationError)
    assert {p.field for p in err.problems} == {"seed", "duration"}, err.problems
    assert err.spend == "no"
    assert not (isolated / "never.mp4").exists()
    assert paid(sim) == {}


def test_provider_failures_raise_the_original_exception_classes(start_sim, isolated):
    sim = start_sim(
        {
            "runway": {
                "faults": [
                    {"on": "submit", "nth": 1, "fault": "rate_limited", "retry_after": 1},
                    {"on": "submit", "nth": 2, "fault": "unavailable"},
                    {"on": "submit", "nth": 3, "fault": "invalid_key"},
                    {"on": "submit", "nth": 4, "fault": "moderation"},
                ]
            }
        },
        "--run-secs",
        "0.2",
    )
    config = backend_config(
        sim, "runway", remote_api_settings={"max_retries": 0, "polling_interval": 0.05}
    )
    generator = create_video_generator("runway", config)
    image = str(write_png(isolated / "k.png"))

    def attempt(n: int):
        with pytest.raises(VideoGenerationError) as raised:
            generator.generate_video(
                prompt="a kite", input_image_path=image, output_path=f"out{n}.mp4"
            )
        return raised.value

    limited = attempt(1)
    assert isinstance(limited, gen_exc.RateLimitError)
    assert isinstance(limited, QuotaExceededError) and isinstance(limited, APIError)
    assert limited.kind == "rate_limited" and limited.retry_after == 1.0

    # A 503 on submit leaves it unknown whether the provider took the paid request: ttv
    # does not send it again, and says so.
    unsettled = attempt(2)
    assert isinstance(unsettled, gen_exc.GenerationError)
    assert unsettled.kind == "unsettled" and unsettled.spend == "maybe"

    refused = attempt(3)
    assert isinstance(refused, gen_exc.AuthenticationError) and isinstance(refused, APIError)
    assert refused.status_code is None and refused.response_body is None

    rejected = attempt(4)
    assert isinstance(rejected, gen_exc.GenerationError)
    assert rejected.kind == "content_rejected"
    assert not any(Path(f"out{n}.mp4").exists() for n in range(1, 5))


def test_a_job_past_its_deadline_raises_generation_timeout(start_sim, isolated):
    sim = start_sim(None, "--run-secs", "30")
    config = backend_config(
        sim, "runway", remote_api_settings={"timeout": 0.5, "polling_interval": 0.05}
    )
    generator = create_video_generator("runway", config)
    with pytest.raises(GenerationTimeoutError) as raised:
        generator.generate_video(
            "a kite", str(write_png(isolated / "k.png")), "late.mp4", duration=5.0
        )
    assert raised.value.kind == "timeout"
    assert paid(sim) == {"runway": 1}
    [job] = generator.client.jobs()
    assert job.state not in ("done", "failed"), "the job is kept, to be resumed"


def test_fallback_generator_follows_the_configured_fallback(sim, isolated):
    config = backend_config(sim, "runway")
    config.update(backend_config(sim, "minimax"))
    config["remote_api_settings"]["fallback_backend"] = "minimax"
    attempted: set = set()
    fallback = get_fallback_generator("runway", config, attempted)
    assert fallback is not None and fallback.get_backend_name() == "minimax"
    assert attempted == {"runway"}
    # Once minimax was attempted too there is nothing left.
    assert get_fallback_generator("minimax", config, {"runway"}) is None
    # The pipeline's single-keyframe path passes (config, backend); that order works too.
    swapped = get_fallback_generator(config, "runway")
    assert swapped is not None and swapped.get_backend_name() == "minimax"
    # No fallback configured: None, as the original.
    assert get_fallback_generator("runway", backend_config(sim, "runway")) is None


def test_original_kwargs_are_accepted(sim, isolated):
    generator = create_video_generator("runway", backend_config(sim, "runway"))
    out = isolated / "kw.mp4"
    generator.generate_video(
        prompt="a kite",
        input_image_path=str(write_png(isolated / "k.png")),
        output_path=str(out),
        duration=5.0,
        frame_num=81,
        aspect_ratio="16:9",
        seed=42,
        motion_strength="medium",
    )
    info = probe_mp4(out)
    assert info["width"] > info["height"], "16:9"
    submit = next(r for r in sim.requests() if r["endpoint"] == "submit")
    body = json.loads(submit["body"])
    assert body["seed"] == 42
    assert body["ratio"] in ("1280:720", "1584:672", "1104:832")
    assert submit["headers"]["authorization"] == f"Bearer {KEY}"

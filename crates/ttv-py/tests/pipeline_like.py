"""Calls the original pipeline's generator interface the way its `pipeline.py` does (written
here, not copied): the chaining loop (create the default backend's generator, fall back when
it cannot be created, validate each segment's inputs, generate it with the original keyword
names, and on any of the original exceptions ask `get_fallback_generator` for the next one)
and the single-keyframe loop (a generator per segment, the fallback on `InvalidInputError` or
`GenerationError`).

Code written for the original imports `generators` and `video_generator_interface`; on ttv
those two imports change and nothing else:

    import ttv.generators as generators                   # was: import generators
    from ttv.video_generator_interface import ...         # was: from video_generator_interface import ...

Usage: python pipeline_like.py CONFIG.json KEYFRAME.png OUTPUT_DIR PROMPT...
Prints one JSON line: the segments made and the backend that made each.
"""

import json
import logging
import os
import sys

import ttv.generators as generators
import ttv.generators.exceptions
import ttv.generators.factory
from ttv.video_generator_interface import (
    APIError,
    GenerationTimeoutError,
    InvalidInputError,
    QuotaExceededError,
    VideoGenerationError,
)


def chaining(config, prompts, keyframe, output_dir):
    backend = config.get("default_backend", "wan2.1")
    attempted = set()
    try:
        generator = generators.create_video_generator(backend, config)
    except VideoGenerationError as e:
        logging.error("cannot initialise %s: %s", backend, e)
        generator = generators.get_fallback_generator(backend, config, attempted)
    if generator is None:
        raise VideoGenerationError("Could not initialize any video generator.")

    made = []
    for seg, prompt in enumerate(prompts, start=1):
        output_path = os.path.join(output_dir, f"segment_{seg:02d}.mp4")
        attempt = generator
        tried = {attempt.get_backend_name()}
        while attempt is not None:
            try:
                problems = attempt.validate_inputs(
                    prompt=prompt, input_image_path=keyframe, duration=5.0
                )
                if problems:
                    raise InvalidInputError(f"Validation failed: {'; '.join(problems)}")
                path = attempt.generate_video(
                    prompt=prompt,
                    input_image_path=keyframe,
                    output_path=output_path,
                    duration=5.0,
                    frame_num=config.get("frame_num", 81),
                )
                if not path or not os.path.exists(path):
                    raise VideoGenerationError(f"reported success but {path} is missing")
                made.append({"segment": seg, "path": path, "backend": attempt.get_backend_name()})
                generator = attempt
                break
            except (VideoGenerationError, APIError, GenerationTimeoutError, InvalidInputError,
                    QuotaExceededError) as e:
                logging.error("segment %d failed on %s: %s", seg, attempt.get_backend_name(), e)
                attempt = generators.get_fallback_generator(
                    attempt.get_backend_name(), config, attempted | tried
                )
                if attempt is not None:
                    tried.add(attempt.get_backend_name())
        else:
            raise VideoGenerationError(f"Failed to generate segment {seg}. Aborting pipeline.")
    return made


def single_keyframe(config, prompts, keyframe, output_dir):
    factory = generators.factory
    InputError = generators.exceptions.InvalidInputError
    GenerationError = generators.exceptions.GenerationError
    backend = config.get("default_backend", "wan2.1")
    made = []
    for seg, prompt in enumerate(prompts, start=1):
        video_file = os.path.join(output_dir, f"keyframe_{seg:03d}.mp4")
        try:
            generator = factory.create_video_generator(backend, config)
            generator.generate_video(
                prompt=prompt, input_image_path=keyframe, output_path=video_file, duration=5.0
            )
            made.append({"segment": seg, "path": video_file, "backend": backend})
        except (InputError, GenerationError) as e:
            logging.error("segment %d failed: %s", seg, e)
            fallback = factory.get_fallback_generator(config, backend)
            if fallback:
                fallback.generate_video(
                    prompt=prompt, input_image_path=keyframe, output_path=video_file,
                    duration=5.0,
                )
                made.append(
                    {"segment": seg, "path": video_file, "backend": fallback.get_backend_name()}
                )
    return made


def main():
    config_path, keyframe, output_dir, *prompts = sys.argv[1:]
    with open(config_path) as f:
        config = json.load(f)
    os.makedirs(output_dir, exist_ok=True)
    chained = chaining(config, prompts, keyframe, output_dir)
    single = single_keyframe(config, prompts, keyframe, output_dir)
    print(json.dumps({"chaining": chained, "single_keyframe": single}))


if __name__ == "__main__":
    main()

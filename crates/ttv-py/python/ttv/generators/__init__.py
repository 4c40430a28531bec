"""The original pipeline's ``generators`` package, served by ttv: ``import ttv.generators as
generators`` (or ``from ttv.generators.factory import create_video_generator,
get_fallback_generator``) and the pipeline's code runs unchanged on ttv's backends."""

from .factory import (
    GENERATOR_REGISTRY,
    TtvVideoGenerator,
    create_video_generator,
    get_fallback_generator,
)

__all__ = [
    "create_video_generator",
    "get_fallback_generator",
    "GENERATOR_REGISTRY",
    "TtvVideoGenerator",
]

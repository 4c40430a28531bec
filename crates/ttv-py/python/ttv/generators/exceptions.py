"""The original pipeline's ``generators.exceptions`` module, served by ttv.

``from generators.exceptions import InvalidInputError, GenerationError`` becomes
``from ttv.generators.exceptions import ...``. ``VideoGenerationError`` and
``InvalidInputError`` are the same classes as in ``ttv.video_generator_interface``, so either
module's ``except`` catches what ttv raises.
"""

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    GenerationError,
    InvalidInputError,
    RateLimitError,
    ServiceUnavailableError,
    VideoGenerationError,
)

__all__ = [
    "VideoGenerationError",
    "InvalidInputError",
    "GenerationError",
    "ConfigurationError",
    "AuthenticationError",
    "RateLimitError",
    "ServiceUnavailableError",
]

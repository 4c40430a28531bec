"""The original pipeline's ``video_generator_interface`` module, served by ttv.

Code that did ``from video_generator_interface import VideoGenerationError, APIError, ...``
changes one line: ``from ttv.video_generator_interface import ...``. The abstract
:class:`VideoGeneratorInterface` is here with the same methods, and every generator
``ttv.generators.create_video_generator`` returns is one.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Dict, List

from .errors import (
    APIError,
    GenerationTimeoutError,
    InvalidInputError,
    QuotaExceededError,
    VideoGenerationError,
)

__all__ = [
    "VideoGeneratorInterface",
    "VideoGenerationError",
    "APIError",
    "GenerationTimeoutError",
    "InvalidInputError",
    "QuotaExceededError",
]


class VideoGeneratorInterface(ABC):
    """Abstract interface for video generation backends."""

    def __init__(self, config: Dict[str, Any]) -> None:
        """Keeps ``config`` (the backend's settings) and a logger named after the class."""
        self.config = config
        self.logger = logging.getLogger(self.__class__.__name__)

    @abstractmethod
    def generate_video(
        self,
        prompt: str,
        input_image_path: str,
        output_path: str,
        duration: float = 5.0,
        **kwargs: Any,
    ) -> str:
        """Generates a video segment at ``output_path`` and returns its path; raises
        ``VideoGenerationError`` (or a subclass) when it fails."""

    @abstractmethod
    def get_capabilities(self) -> Dict[str, Any]:
        """The backend's capabilities and limits: ``max_duration``,
        ``supported_resolutions``, ``supports_image_to_video``, ``supports_text_to_video``,
        ``requires_gpu``, ``api_based``."""

    @abstractmethod
    def estimate_cost(self, duration: float, resolution: str = "1280x720") -> float:
        """The estimated cost in US dollars (0.0 for local models)."""

    @abstractmethod
    def validate_inputs(self, prompt: str, input_image_path: str, duration: float) -> List[str]:
        """Every problem with the inputs (empty when valid)."""

    def is_available(self) -> bool:
        """Whether the backend is configured and ready to use."""
        try:
            return self.get_capabilities() is not None
        except Exception as e:  # noqa: BLE001 - the original's contract: never raise here
            self.logger.error("Backend availability check failed: %s", e)
            return False

    def get_backend_name(self) -> str:
        """The backend's name, for logging and display."""
        return self.__class__.__name__.replace("Generator", "")

"""ttv: one interface to every text-to-video and image-to-video generator, from Python.

Two APIs over the same Rust library (the job store, budgets, fallback, never paying twice,
verified MP4s with a JSON sidecar):

- the Pythonic one: ``ttv.Client(config=...)`` with ``generate``, ``await agenerate``,
  ``submit`` -> :class:`Job` (``status``, ``wait(progress=...)``, ``cancel``), ``backends``,
  ``estimate``, ``validate``, ``jobs``, ``spend`` and ``film``;
- the original pipeline's generator interface, drop-in: ``ttv.generators``
  (``create_video_generator(backend, config)``, ``get_fallback_generator(...)``),
  ``ttv.video_generator_interface`` and ``ttv.generators.exceptions``.

>>> import ttv
>>> client = ttv.Client()
>>> video = client.generate("A lighthouse at dusk", duration=2, out="clip.mp4")  # doctest: +SKIP
>>> video.video["probe"]["frames"]  # doctest: +SKIP
48
"""

from . import errors
from ._client import Client, Job
from ._native import version as _version
from .errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    GenerationError,
    GenerationTimeoutError,
    InvalidInputError,
    JobCancelled,
    Problem,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
    Unsettled,
    VideoGenerationError,
)
from .results import Backend, Estimate, Film, JobRecord, JobStatus, Progress, Spend, Video

# The original pipeline's interface, importable as `ttv.generators` after `import ttv`.
from . import generators  # noqa: E402  (it imports the client above)

__version__ = _version()

__all__ = [
    "Client",
    "Job",
    "Video",
    "Film",
    "Progress",
    "JobStatus",
    "JobRecord",
    "Backend",
    "Estimate",
    "Spend",
    "Problem",
    "errors",
    "generators",
    "VideoGenerationError",
    "APIError",
    "GenerationTimeoutError",
    "InvalidInputError",
    "QuotaExceededError",
    "GenerationError",
    "ConfigurationError",
    "AuthenticationError",
    "RateLimitError",
    "ServiceUnavailableError",
    "JobCancelled",
    "Unsettled",
    "__version__",
]

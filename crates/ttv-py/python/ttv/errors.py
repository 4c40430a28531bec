"""ttv's exceptions: the original pipeline's classes, with their names and hierarchy, and one
concrete class per ttv error kind beneath them.

The original pipeline has two families, both rooted in ``VideoGenerationError``:
``video_generator_interface`` (``APIError``, ``GenerationTimeoutError``, ``InvalidInputError``,
``QuotaExceededError``) and ``generators.exceptions`` (``InvalidInputError``,
``GenerationError``, ``ConfigurationError``, ``AuthenticationError``, ``RateLimitError``,
``ServiceUnavailableError``). ttv has one ``VideoGenerationError`` and one
``InvalidInputError`` that both modules export, so an ``except`` written against either
module catches what ttv raises.

What ttv raises is a class for its error kind (``RateLimited``, ``JobCancelled``, ...) that
derives from every original class that describes it: a rate limit is a ``RateLimitError``, a
``QuotaExceededError`` (the original's "quota/rate limit errors") and an ``APIError``. Every
ttv error carries ``kind``, ``problems``, ``backend``, ``spend`` and ``retry_after``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Type

__all__ = [
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
    "Problem",
    "InvalidRequest",
    "Unsupported",
    "ConfigError",
    "AuthFailed",
    "RateLimited",
    "TransientError",
    "BackendUnavailable",
    "QuotaExceeded",
    "ContentRejected",
    "JobFailed",
    "JobCancelled",
    "Timeout",
    "FileError",
    "InvalidOutput",
    "OutputExpired",
    "Unsettled",
]


@dataclass(frozen=True)
class Problem:
    """One problem with one field of a request: the field, the value given, what is allowed."""

    field: str
    value: str
    allowed: str

    def __str__(self) -> str:
        return f"{self.field}: {self.value}; expected {self.allowed}"


class VideoGenerationError(Exception):
    """Base exception for video generation errors (the original pipeline's root class).

    Raised by ttv with these attributes (defaults for one raised by other code):

    - ``kind``: ttv's error kind (``invalid_request``, ``auth``, ``rate_limited``, ...)
    - ``problems``: every :class:`Problem` with the request, all at once
    - ``backend``: the backend that failed, when one did
    - ``spend``: ``"no"``, ``"maybe"`` or ``"yes"``: whether money may have been spent
    - ``retry_after``: seconds the provider asked to wait, when it said
    """

    kind: str = "job_failed"
    problems: List[Problem] = []
    backend: Optional[str] = None
    spend: str = "no"
    retry_after: Optional[float] = None


class APIError(VideoGenerationError):
    """Exception for API-related errors."""

    def __init__(
        self,
        message: str,
        status_code: Optional[int] = None,
        response_body: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response_body = response_body


class GenerationTimeoutError(VideoGenerationError):
    """Exception for generation timeout."""


class InvalidInputError(VideoGenerationError):
    """Exception for invalid input parameters (both original modules' ``InvalidInputError``)."""


class QuotaExceededError(VideoGenerationError):
    """Exception for quota/rate limit errors."""


class GenerationError(VideoGenerationError):
    """Raised when generation fails."""


class ConfigurationError(VideoGenerationError):
    """Raised when configuration is invalid."""


class AuthenticationError(VideoGenerationError):
    """Raised when authentication fails."""


class RateLimitError(VideoGenerationError):
    """Raised when rate limit is exceeded."""


class ServiceUnavailableError(VideoGenerationError):
    """Raised when service is unavailable."""


# ttv's kinds, each beneath every original class that describes it.


class InvalidRequest(InvalidInputError):
    """The request is wrong for this backend; ``problems`` lists every bad field."""


class Unsupported(InvalidInputError):
    """The backend cannot do this at all (a mode, duration or size it does not offer)."""


class ConfigError(ConfigurationError):
    """The configuration is wrong (the message names the key)."""


class AuthFailed(AuthenticationError, APIError):
    """The provider refused the credentials."""


class RateLimited(RateLimitError, QuotaExceededError, APIError):
    """The provider asked to slow down; ``retry_after`` says for how long when it said."""


class TransientError(ServiceUnavailableError, APIError):
    """A passing failure (a dropped connection, a 503) that outlasted ttv's retries."""


class BackendUnavailable(ServiceUnavailableError):
    """The backend cannot be used here (not configured, no key, no GPU, an outage)."""


class QuotaExceeded(QuotaExceededError):
    """The provider's balance or quota, or ttv's own budget, is exhausted."""


class ContentRejected(GenerationError):
    """A safety filter refused the input or the output."""


class JobFailed(GenerationError):
    """The provider accepted the job and then failed it."""


class JobCancelled(GenerationError):
    """The job was cancelled (``Job.cancel()`` or Ctrl-C); ``spend`` says whether it was paid."""


class Timeout(GenerationTimeoutError):
    """A deadline passed (``remote_api_settings.timeout``); the job is kept, to be resumed."""


class FileError(GenerationError):
    """A local file could not be read or written."""


class InvalidOutput(GenerationError):
    """The provider's output is not a playable video."""


class OutputExpired(GenerationError):
    """The address of the finished video expired before it was downloaded."""


class Unsettled(GenerationError):
    """A paid request may have reached the provider, so it was not sent again: the job waits
    in state ``unknown`` (``ttv jobs resolve``). Never retry it blindly: that may pay twice."""


_BY_KIND: Dict[str, Type[VideoGenerationError]] = {
    "invalid_request": InvalidRequest,
    "unsupported": Unsupported,
    "config": ConfigError,
    "auth": AuthFailed,
    "rate_limited": RateLimited,
    "transient": TransientError,
    "unavailable": BackendUnavailable,
    "quota_exceeded": QuotaExceeded,
    "content_rejected": ContentRejected,
    "job_failed": JobFailed,
    "cancelled": JobCancelled,
    "timeout": Timeout,
    "io": FileError,
    "invalid_output": InvalidOutput,
    "output_expired": OutputExpired,
    "unsettled": Unsettled,
}


def error_class(kind: str) -> Type[VideoGenerationError]:
    """The exception class ttv raises for an error kind."""
    return _BY_KIND.get(kind, JobFailed)


def from_payload(payload: str) -> VideoGenerationError:
    """The exception for the native module's error (JSON text)."""
    try:
        data: Dict[str, Any] = json.loads(payload)
    except ValueError:
        data = {"kind": "job_failed", "message": payload}
    kind = str(data.get("kind") or "job_failed")
    err = error_class(kind)(str(data.get("message") or kind))
    err.kind = kind
    err.problems = [
        Problem(str(p.get("field", "")), str(p.get("value", "")), str(p.get("allowed", "")))
        for p in data.get("problems") or []
    ]
    err.backend = data.get("backend")
    err.spend = str(data.get("spend") or "no")
    err.retry_after = data.get("retry_after")
    return err

"""The original pipeline's generator factory, served by ttv.

``create_video_generator(backend, config)`` takes the backend's name (the original's
``wan2.1``, ``hunyuan``, ``runway``, ``veo3``, ``minimax``, ``fal``, ``fal.ai``, or any of
ttv's: ``animatic``, ``kling``, ``luma``, ``replicate``, ``seedance``, ``alibaba``, ``ltx``
and their aliases) and the whole configuration dict (the keys of ``pipeline_config.yaml``),
and returns a :class:`~ttv.video_generator_interface.VideoGeneratorInterface` whose
``generate_video`` runs a ttv job: checked and priced before anything is spent, recorded in
the job store, never paid twice, verified, described in a sidecar beside the video.

``get_fallback_generator(primary_backend, config, attempted_backends=None)`` returns the
generator of the configured fallback (``remote_api_settings.fallback_backend``, or ttv's
top-level ``fallback_backend``, a name or a list) that has not been attempted, or ``None``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Set

from .. import _native
from .._client import Client
from ..errors import BackendUnavailable, ConfigError, VideoGenerationError
from ..results import Video
from ..video_generator_interface import VideoGeneratorInterface

logger = logging.getLogger(__name__)

__all__ = [
    "GENERATOR_REGISTRY",
    "TtvVideoGenerator",
    "create_video_generator",
    "get_fallback_generator",
]

# Keyword arguments of the original generators that ttv reads in ``generate_video``.
_READ = frozenset(
    (
        "aspect_ratio", "seed", "negative_prompt", "resolution", "fps", "audio",
        "last_frame_path", "last_frame", "job_id", "extra", "fal_input", "progress",
    )
)
# The original generators' keyword arguments ttv has no use for: accepted and logged.
# (`frame_num`: ttv takes the length from `duration`; the model of a backend is configured,
# not chosen per call; images are sent the way the provider accepts them.)
_IGNORED = frozenset(
    (
        "frame_num", "fal_model", "use_local_file", "motion_strength", "sample_steps",
        "guide_scale",
    )
)

_clients: Dict[str, Client] = {}


def _client_for(config: Mapping[str, Any]) -> Client:
    """One client per configuration (and job store folder), so that every generator of the
    same configuration shares its job store and budgets."""
    key = json.dumps(
        [dict(config), os.environ.get("TTV_DATA_DIR", "")], sort_keys=True, default=str
    )
    client = _clients.get(key)
    if client is None:
        client = Client(config=config)
        _clients[key] = client
    return client


def _fail(cls: type, kind: str, message: str) -> VideoGenerationError:
    err = cls(message)
    err.kind = kind
    return err


class TtvVideoGenerator(VideoGeneratorInterface):
    """A ttv backend behind the original pipeline's generator interface.

    ``client`` is the :class:`ttv.Client` of the configuration; ``backend`` the name given to
    the factory; ``last_video`` the :class:`ttv.Video` (path and sidecar fields) of the last
    ``generate_video``.
    """

    def __init__(self, client: Client, backend: str, config: Mapping[str, Any]) -> None:
        super().__init__(dict(config))
        self.client = client
        self.backend = backend
        self.last_video: Optional[Video] = None

    def generate_video(
        self,
        prompt: str,
        input_image_path: str,
        output_path: str,
        duration: float = 5.0,
        **kwargs: Any,
    ) -> str:
        """Generates a video segment at ``output_path`` from ``prompt`` and the image at
        ``input_image_path`` (``None`` or ``""`` for text-to-video) and returns its path.

        Reads the original generators' ``aspect_ratio``, ``seed`` and ``fal_input`` (sent
        as the request's ``extra``), and ttv's ``negative_prompt``, ``resolution``, ``fps``,
        ``audio``, ``last_frame_path``, ``job_id``, ``extra`` and ``progress`` (a callable
        given each :class:`ttv.Progress`). ``frame_num``, ``fal_model``, ``use_local_file``,
        ``motion_strength``, ``sample_steps`` and ``guide_scale`` are accepted and have no
        effect. Raises ``InvalidInputError`` (every problem at once) before anything is
        spent, ``APIError``/``AuthenticationError``/``RateLimitError``/... for the
        provider's failures, ``GenerationTimeoutError`` past the deadline; Ctrl-C cancels
        the job at the provider.
        """
        unknown = set(kwargs) - _READ - _IGNORED
        ignored = set(kwargs) & _IGNORED
        if unknown:
            self.logger.warning(
                "%s: ttv does not know the argument(s) %s; ignored",
                self.backend, ", ".join(sorted(unknown)),
            )
        if ignored:
            self.logger.debug("ttv takes no use of %s", ", ".join(sorted(ignored)))
        extra: Dict[str, Any] = dict(kwargs.get("fal_input") or {})
        extra.update(kwargs.get("extra") or {})
        parent = os.path.dirname(os.path.abspath(os.fspath(output_path)))
        os.makedirs(parent, exist_ok=True)
        video = self.client.generate(
            prompt,
            image=input_image_path or None,
            last_frame=kwargs.get("last_frame_path") or kwargs.get("last_frame"),
            duration=duration,
            aspect_ratio=kwargs.get("aspect_ratio"),
            resolution=kwargs.get("resolution"),
            fps=kwargs.get("fps"),
            seed=kwargs.get("seed"),
            negative_prompt=kwargs.get("negative_prompt"),
            audio=bool(kwargs.get("audio", False)),
            extra=extra,
            backend=self.backend,
            out=output_path,
            job_id=kwargs.get("job_id"),
            progress=kwargs.get("progress"),
        )
        self.last_video = video
        self.logger.info("%s made %s (job %s)", video.backend, video.path, video.job_id)
        return video.path

    def get_capabilities(self) -> Dict[str, Any]:
        """The original keys (``max_duration``, ``supported_resolutions``,
        ``supports_image_to_video``, ``supports_text_to_video``, ``requires_gpu``,
        ``api_based``) and ttv's: ``name``, ``kind``, ``model``, ``available``, ``reason``,
        ``modes``, ``durations``, ``default_duration``, ``resolutions``,
        ``aspect_ratios``, ``fps``, ``max_prompt_chars``, ``images``, ``audio``, ``seed``,
        ``negative_prompt``, ``price_summary``, ..."""
        return self.client.capabilities(self.backend)

    def estimate_cost(self, duration: float, resolution: str = "1280x720") -> float:
        """The estimated cost in US dollars from ttv's price tables (0.0 for local models and
        the animatic)."""
        return self.client.price(self.backend, duration, resolution)

    def validate_inputs(self, prompt: str, input_image_path: str, duration: float) -> List[str]:
        """Every problem with the inputs for this backend, one line each naming the field, the
        value and what is allowed (empty when valid). Spends nothing."""
        return self.client.validate(
            prompt, backend=self.backend, image=input_image_path or None, duration=duration
        )

    def is_available(self) -> bool:
        """Whether the backend is configured and can be used here."""
        try:
            return bool(self.client.capabilities(self.backend).get("available"))
        except VideoGenerationError as e:
            self.logger.error("Backend availability check failed: %s", e)
            return False

    def get_backend_name(self) -> str:
        """The backend's name as given to the factory (``runway``, ``veo3``, ...), so that
        ``get_fallback_generator`` can tell which backends were attempted."""
        return self.backend

    def __repr__(self) -> str:
        return f"TtvVideoGenerator(backend={self.backend!r})"


# Every name the factory accepts (the original's and ttv's), as the original's registry.
GENERATOR_REGISTRY: Dict[str, type] = {name: TtvVideoGenerator for name in _native.backend_names()}


def create_video_generator(backend: str, config: Dict[str, Any]) -> VideoGeneratorInterface:
    """Creates the generator of ``backend`` with the whole configuration ``config``.

    Raises ``VideoGenerationError`` (``ConfigurationError`` for an unknown name or a bad
    configuration, ``ServiceUnavailableError`` when the backend cannot be used here: no key,
    no local model), as the original factory raises ``VideoGenerationError``.
    """
    name = str(backend).strip().lower()
    if name not in GENERATOR_REGISTRY:
        raise _fail(
            ConfigError,
            "config",
            f"Unknown video generation backend: '{name}'. "
            f"Available backends: {', '.join(GENERATOR_REGISTRY)}",
        )
    client = _client_for(config or {})
    capabilities = client.capabilities(name)
    if not capabilities.get("available"):
        raise _fail(
            BackendUnavailable,
            "unavailable",
            f"Failed to initialize {name} backend: {capabilities.get('reason')}",
        )
    generator = TtvVideoGenerator(client, name, config or {})
    logger.info("Created %s video generator", name)
    return generator


def _fallbacks(config: Mapping[str, Any]) -> List[str]:
    remote = config.get("remote_api_settings") or {}
    listed: List[str] = []
    for value in (remote.get("fallback_backend"), config.get("fallback_backend")):
        if isinstance(value, str):
            listed.append(value)
        elif isinstance(value, (list, tuple)):
            listed.extend(str(v) for v in value)
    return listed


def get_fallback_generator(
    primary_backend: str,
    config: Dict[str, Any],
    attempted_backends: Optional[Set[str]] = None,
) -> Optional[VideoGeneratorInterface]:
    """The generator of the first configured fallback not yet attempted, or ``None``.

    ``primary_backend`` (the one that failed) is added to ``attempted_backends``. Only an
    explicitly configured fallback is used. (The original pipeline's single-keyframe path
    calls this as ``get_fallback_generator(config, backend)``; that order is accepted too.)
    """
    if isinstance(primary_backend, Mapping) and isinstance(config, str):
        primary_backend, config = config, primary_backend  # type: ignore[assignment]
    if attempted_backends is None:
        attempted_backends = set()
    attempted_backends.add(primary_backend)
    client = _client_for(config or {})

    def canonical(name: str) -> str:
        try:
            return str(client.capabilities(name).get("name", name))
        except VideoGenerationError:
            return str(name).strip().lower()

    tried = {canonical(str(b)) for b in attempted_backends}
    for name in _fallbacks(config or {}):
        if name in attempted_backends or canonical(name) in tried:
            continue
        try:
            logger.info("Attempting to use fallback backend: %s", name)
            return create_video_generator(name, config)
        except VideoGenerationError as e:
            logger.error("Fallback backend %s also failed: %s", name, e)
    logger.info("No fallback backend configured or available")
    return None

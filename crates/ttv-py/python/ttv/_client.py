"""The Pythonic API: :class:`Client` and :class:`Job`.

A client is ttv's job façade for one configuration: every video is a job in the job store
(named by ``job_id``; the same id carries that job on instead of paying twice), chosen,
budgeted, run through the fallback chain, verified and described in a sidecar by the Rust
library. Waiting releases the GIL; ``agenerate`` waits on asyncio without a thread per call.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _native
from .errors import from_payload
from .results import Backend, Estimate, Film, JobRecord, JobStatus, Progress, Spend, Video

PathLike = Union[str, "os.PathLike[str]"]
ProgressCallback = Callable[[Progress], Any]

# How often a waiting call comes back to Python, so that Ctrl-C is seen promptly.
_WAIT_STEP_SECS = 0.1


def _native_call(fn: Callable[..., Any], *args: Any) -> Any:
    """Calls the native module, turning its errors into ttv's exception classes."""
    try:
        return fn(*args)
    except _native.NativeError as e:
        raise from_payload(str(e.args[0]) if e.args else "") from None


def _path(value: Optional[PathLike]) -> Optional[str]:
    return None if value is None else os.fspath(value)


def _request(
    prompt: Optional[str],
    image: Optional[PathLike],
    last_frame: Optional[PathLike],
    duration: Optional[Union[float, str]],
    aspect_ratio: Optional[str],
    resolution: Optional[str],
    fps: Optional[int],
    seed: Optional[int],
    negative_prompt: Optional[str],
    audio: bool,
    extra: Optional[Mapping[str, Any]],
) -> str:
    return json.dumps(
        {
            "prompt": prompt,
            "image": _path(image),
            "last_frame": _path(last_frame),
            "duration": duration,
            "aspect_ratio": aspect_ratio,
            "resolution": resolution,
            "fps": fps,
            "seed": seed,
            "negative_prompt": negative_prompt,
            "audio": bool(audio),
            "extra": dict(extra or {}),
        }
    )


def _options(
    backend: Optional[str],
    out: Optional[PathLike],
    job_id: Optional[str],
    fallback: Optional[str],
) -> str:
    return json.dumps(
        {"backend": backend, "out": _path(out), "job_id": job_id, "fallback": fallback}
    )


class Job:
    """A job started by :meth:`Client.submit` (or a film by :meth:`Client.film_submit`).

    ``id`` is the job id (the film's run id), ``backend`` the backend chosen. :meth:`wait`
    blocks until it ends (the GIL released) and returns the :class:`Video`; Ctrl-C during the
    wait cancels the job at the provider before ``KeyboardInterrupt`` goes on.
    """

    def __init__(self, client: "Client", native: Any) -> None:
        self._client = client
        self._native = native

    @property
    def id(self) -> str:
        """The job id (a film's run id)."""
        return str(self._native.id)

    @property
    def backend(self) -> Optional[str]:
        """The backend chosen for the job (``None`` for a film)."""
        return self._native.backend

    def done(self) -> bool:
        """Whether the job has ended (made, failed or cancelled)."""
        return bool(self._native.done())

    def status(self) -> JobStatus:
        """Where the job stands: its state in the job store and its latest progress."""
        last = self._native.last_event()
        progress = Progress.from_event(self.id, json.loads(last)) if last else None
        record: Dict[str, Any] = {}
        state = "running"
        if self._native.kind == "video":
            record = json.loads(_native_call(self._client._native.job, self.id))
            state = str(record.get("state", state))
        elif self.done():
            state = "done"
        return JobStatus(
            job_id=self.id, state=state, done=self.done(), progress=progress, record=record
        )

    def wait(
        self, progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None
    ) -> Any:
        """Waits for the job and returns its :class:`Video` (a :class:`Film` for a film).

        ``progress`` is called with each :class:`Progress` event in this thread. ``timeout``
        (seconds) raises ``TimeoutError`` and leaves the job running. Ctrl-C
        (``KeyboardInterrupt``) cancels the job, at the provider too where it can, waits for
        the cancel to be recorded, and then re-raises. A failed job raises the ttv exception
        for its kind (a subclass of ``VideoGenerationError``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                step = _WAIT_STEP_SECS
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"job {self.id} is still running")
                    step = min(step, left)
                ended, events = self._native.wait_step(step)
                if progress is not None:
                    for event in events:
                        progress(Progress.from_event(self.id, json.loads(event)))
                if ended:
                    return self.result()
        except KeyboardInterrupt:
            self._cancel_and_settle()
            raise

    def result(self) -> Any:
        """The :class:`Video` (or :class:`Film`) of an ended job; raises its error."""
        outcome = json.loads(_native_call(self._native.result))
        if self._native.kind == "film":
            return Film.from_made(outcome)
        return Video.from_outcome(outcome)

    def cancel(self) -> None:
        """Cancels the job: the remote job is cancelled where the backend can, the job is
        recorded as cancelled, and :meth:`wait` raises ``JobCancelled``. Returns at once."""
        self._native.cancel()

    def _cancel_and_settle(self) -> None:
        """Cancels and waits (uninterruptibly) until the cancel is recorded."""
        self._native.cancel()
        while True:
            try:
                ended, _ = self._native.wait_step(_WAIT_STEP_SECS)
            except KeyboardInterrupt:
                continue
            if ended:
                return

    def __await__(self) -> Any:
        return self._await_result().__await__()

    async def _await_result(self) -> Any:
        loop = asyncio.get_running_loop()
        ended: "asyncio.Future[None]" = loop.create_future()

        def settle() -> None:
            if not ended.done():
                ended.set_result(None)

        # Called from a runtime thread when the job ends: hand it to the event loop.
        self._native.on_done(lambda: loop.call_soon_threadsafe(settle))
        try:
            await ended
        except asyncio.CancelledError:
            self._native.cancel()
            raise
        return self.result()

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, backend={self.backend!r})"


class Client:
    """ttv for one configuration.

    ``config`` is the configuration: a dict with the keys of the original pipeline's
    ``pipeline_config.yaml`` and ttv's own sections, a path to a YAML file, or ``None`` to
    look for one as the ``ttv`` command does (``$TTV_CONFIG``, ``./ttv.yaml``,
    ``./pipeline_config.yaml``) and else use the environment alone (``RUNWAYML_API_SECRET``,
    ``FAL_KEY``, ...). ``data_dir`` is the job store's folder (else ``TTV_DATA_DIR``,
    ``store.data_dir``, the user's data folder). A bad configuration raises
    ``ConfigError`` naming the key.
    """

    def __init__(
        self,
        config: Union[None, Mapping[str, Any], PathLike] = None,
        data_dir: Optional[PathLike] = None,
    ) -> None:
        if config is None or isinstance(config, Mapping):
            text = None if config is None else json.dumps(dict(config), default=os.fspath)
            self._native = _native_call(_native.NativeClient, text, None, _path(data_dir))
        else:
            self._native = _native_call(
                _native.NativeClient, None, os.fspath(config), _path(data_dir)
            )

    @property
    def warnings(self) -> List[str]:
        """The configuration's warnings (unknown keys, keys ttv does not use)."""
        return list(self._native.warnings)

    @property
    def data_dir(self) -> str:
        """The job store's folder."""
        return os.fspath(self._native.data_dir)

    @property
    def default_backend(self) -> str:
        """The configuration's ``default_backend`` (a name or ``auto``)."""
        return str(self._native.default_backend)

    def submit(
        self,
        prompt: Optional[str] = None,
        *,
        image: Optional[PathLike] = None,
        last_frame: Optional[PathLike] = None,
        duration: Optional[Union[float, str]] = None,
        aspect_ratio: Optional[str] = None,
        resolution: Optional[str] = None,
        fps: Optional[int] = None,
        seed: Optional[int] = None,
        negative_prompt: Optional[str] = None,
        audio: bool = False,
        extra: Optional[Mapping[str, Any]] = None,
        backend: Optional[str] = None,
        out: Optional[PathLike] = None,
        job_id: Optional[str] = None,
        fallback: Optional[str] = None,
    ) -> Job:
        """Plans a video job and starts it; returns its :class:`Job` at once.

        The request: ``prompt``, ``image`` (first frame), ``last_frame``, ``duration``
        (seconds), ``aspect_ratio`` (``"16:9"``), ``resolution`` (``"1280x720"`` or
        ``"720p"``), ``fps``, ``seed``, ``negative_prompt``, ``audio`` and ``extra`` (options
        passed to the backend as they are). The job: ``backend`` (a name, an alias or
        ``"auto"``; else the configuration's ``default_backend``), ``out`` (the MP4's path;
        else a new name in ``output_dir``), ``job_id`` (the idempotency key: an existing
        job with that id is carried on, never bought twice) and ``fallback``
        (``"configured"``: the configured fallbacks stand in unless a backend is named;
        ``"always"``; ``"never"``). Every problem with the request is raised now, all at
        once, as ``InvalidRequest`` with ``problems``; nothing is spent before the request is
        valid and within budget.
        """
        native = _native_call(
            self._native.submit,
            _request(
                prompt, image, last_frame, duration, aspect_ratio, resolution, fps, seed,
                negative_prompt, audio, extra,
            ),
            _options(backend, out, job_id, fallback),
        )
        return Job(self, native)

    def generate(
        self,
        prompt: Optional[str] = None,
        *,
        progress: Optional[ProgressCallback] = None,
        **options: Any,
    ) -> Video:
        """Makes a video and returns it as a :class:`Video` (path and sidecar fields).

        Takes the arguments of :meth:`submit`, and ``progress``, called with each
        :class:`Progress`. Blocks with the GIL released; Ctrl-C cancels the job at the
        provider (where it can) before ``KeyboardInterrupt`` goes on.
        """
        return self.submit(prompt, **options).wait(progress=progress)

    async def agenerate(self, prompt: Optional[str] = None, **options: Any) -> Video:
        """:meth:`generate` for asyncio: ``await client.agenerate(...)``.

        Planning runs at once (a bad request raises here); the wait is an asyncio future
        settled from ttv's runtime, so a hundred concurrent calls need no hundred threads.
        Cancelling the awaiting task cancels the job.
        """
        job = self.submit(prompt, **options)
        return await job

    def estimate(
        self,
        prompt: Optional[str] = None,
        *,
        backend: Optional[str] = None,
        **request: Any,
    ) -> Estimate:
        """What :meth:`generate` would do with these arguments, decided without spending:
        the backend and why, the settings, and the cost in dollars."""
        return Estimate.from_json(
            json.loads(
                _native_call(
                    self._native.estimate,
                    _request_of(prompt, request),
                    _options(backend, request.get("out"), None, request.get("fallback")),
                )
            )
        )

    def price(self, backend: str, duration: float, resolution: Optional[str] = None) -> float:
        """What ``backend`` charges, in US dollars, for a clip of ``duration`` seconds at
        ``resolution``, whatever the prompt and image (the original ``estimate_cost``)."""
        estimate = json.loads(
            _native_call(self._native.price, backend, float(duration), resolution)
        )
        return float(estimate["usd"]["micros"]) / 1_000_000

    def validate(
        self, prompt: Optional[str] = None, *, backend: Optional[str] = None, **request: Any
    ) -> List[str]:
        """Every problem with a request for ``backend`` (one line each; empty when it can be
        made). Spends nothing."""
        problems = json.loads(
            _native_call(
                self._native.validate,
                _request_of(prompt, request),
                _options(backend, None, None, "never"),
            )
        )
        return [str(p["message"]) for p in problems]

    def backends(self) -> List[Backend]:
        """Every backend ttv knows: whether it can be used here (and why not) and what it can
        do."""
        return [Backend.from_json(row) for row in json.loads(_native_call(self._native.backends))]

    def capabilities(self, backend: str) -> Dict[str, Any]:
        """One backend's capabilities, with the original pipeline's ``get_capabilities()``
        keys (``max_duration``, ``supported_resolutions``, ``supports_image_to_video``,
        ``supports_text_to_video``, ``requires_gpu``, ``api_based``) and ttv's."""
        return dict(json.loads(_native_call(self._native.capabilities, backend)))

    def job(self, job_id: str) -> JobRecord:
        """One job of the job store."""
        return JobRecord.from_json(json.loads(_native_call(self._native.job, job_id)))

    def jobs(self, state: Union[None, str, Sequence[str]] = None) -> List[JobRecord]:
        """The jobs of the job store, newest first; ``state`` keeps those in that state (or
        states)."""
        states = [] if state is None else [state] if isinstance(state, str) else list(state)
        rows = json.loads(_native_call(self._native.jobs, states))
        return [JobRecord.from_json(row) for row in rows]

    def cancel(self, job_id: str) -> JobRecord:
        """Cancels a job of the store at the provider (where the backend can) and records it."""
        return JobRecord.from_json(json.loads(_native_call(self._native.cancel_job, job_id)))

    def spend(self, days: Optional[int] = None) -> Spend:
        """What jobs cost, by day, backend and model; ``days`` keeps the last so many days."""
        return Spend.from_json(json.loads(_native_call(self._native.spend, days)))

    def film_submit(
        self,
        prompt: Optional[str] = None,
        *,
        mode: Optional[str] = None,
        duration: Optional[float] = None,
        segment_duration: Optional[float] = None,
        parallel: Optional[int] = None,
        crossfade_frames: Optional[int] = None,
        backend: Optional[str] = None,
        out: Optional[PathLike] = None,
        run_id: Optional[str] = None,
        max_cost: Optional[float] = None,
    ) -> Job:
        """Plans a long video and starts it; returns its :class:`Job` (``wait()`` gives the
        :class:`Film`). See :meth:`film`."""
        options = {
            "prompt": prompt,
            "mode": mode,
            "duration": duration,
            "segment_duration": segment_duration,
            "parallel": parallel,
            "crossfade_frames": crossfade_frames,
            "backend": backend,
            "out": _path(out),
            "run_id": run_id,
            "max_cost": max_cost,
        }
        return Job(self, _native_call(self._native.film, json.dumps(options)))

    def film(
        self, prompt: Optional[str] = None, *, progress: Optional[ProgressCallback] = None,
        **options: Any,
    ) -> Film:
        """Makes a long video with the film pipeline and returns the :class:`Film`.

        The story (``prompt``, else the configuration's ``prompt``) is split into segments of
        ``segment_duration`` seconds (``duration`` in all); ``mode`` is ``"chaining"`` (each
        segment starts from the previous one's last frame) or ``"keyframe"``; the segments
        are jobs (``backend``, else ``default_backend``) joined into ``out``. ``run_id``
        names the run, ``max_cost`` caps it in dollars. Ctrl-C cancels the running segments.
        """
        return self.film_submit(prompt, **options).wait(progress=progress)

    def __repr__(self) -> str:
        return (
            f"Client(default_backend={self.default_backend!r}, data_dir={self.data_dir!r})"
        )


_REQUEST_KEYS = frozenset(
    (
        "image", "last_frame", "duration", "aspect_ratio", "resolution", "fps", "seed",
        "negative_prompt", "audio", "extra", "out", "fallback",
    )
)


def _request_of(prompt: Optional[str], request: Mapping[str, Any]) -> str:
    unknown = sorted(set(request) - _REQUEST_KEYS)
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(sorted(_REQUEST_KEYS))}"
        )
    return _request(
        prompt,
        request.get("image"),
        request.get("last_frame"),
        request.get("duration"),
        request.get("aspect_ratio"),
        request.get("resolution"),
        request.get("fps"),
        request.get("seed"),
        request.get("negative_prompt"),
        bool(request.get("audio", False)),
        request.get("extra"),
    )

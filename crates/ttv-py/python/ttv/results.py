"""What ttv returns: plain frozen dataclasses built from the library's JSON.

:class:`Video` carries every field of the sidecar ttv writes beside each video
(``VIDEO.mp4.json``), so a Python caller reads the same record as a person or a script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


def _usd(money: Optional[Dict[str, Any]]) -> Optional[float]:
    """Dollars of a money object (``{"micros": ..., "currency": "usd"}``)."""
    if not money:
        return None
    return float(money.get("micros", 0)) / 1_000_000


@dataclass(frozen=True)
class Video:
    """A verified video and its sidecar record.

    ``path`` is the MP4, ``sidecar_path`` its JSON record; the other fields are the
    sidecar's: ``video`` (file, bytes, sha256 and the probe: codec, width, height,
    duration_secs, frames, fps), ``backend``, ``model``, ``seed``, ``seed_source``,
    ``selection`` (why this backend), ``fallback``, ``job_id``, ``attempts``, ``request``,
    ``inputs``, ``resolved``, ``ticket``, ``cost`` and ``timings``.
    """

    path: str
    sidecar_path: str
    job_id: Optional[str]
    backend: str
    model: Optional[str] = None
    seed: Optional[int] = None
    seed_source: Optional[str] = None
    video: Dict[str, Any] = field(default_factory=dict)
    selection: Dict[str, Any] = field(default_factory=dict)
    fallback: Optional[Dict[str, Any]] = None
    attempts: List[Dict[str, Any]] = field(default_factory=list)
    request: Dict[str, Any] = field(default_factory=dict)
    inputs: List[Dict[str, Any]] = field(default_factory=list)
    resolved: Dict[str, Any] = field(default_factory=dict)
    ticket: Dict[str, Any] = field(default_factory=dict)
    cost: Dict[str, Any] = field(default_factory=dict)
    timings: Dict[str, Any] = field(default_factory=dict)
    schema: Optional[int] = None
    ttv_version: Optional[str] = None
    already_done: bool = False
    warnings: List[str] = field(default_factory=list)

    @property
    def estimated_usd(self) -> Optional[float]:
        """The estimate in US dollars."""
        return _usd((self.cost.get("estimate") or {}).get("usd"))

    @classmethod
    def from_outcome(cls, outcome: Dict[str, Any]) -> "Video":
        """The video of a finished job (the native module's outcome JSON)."""
        sidecar = outcome.get("sidecar") or {}
        return cls(
            path=str(outcome["path"]),
            sidecar_path=str(outcome.get("sidecar_path", "")),
            job_id=outcome.get("job_id") or sidecar.get("job_id"),
            backend=str(sidecar.get("backend", "")),
            model=sidecar.get("model"),
            seed=sidecar.get("seed"),
            seed_source=sidecar.get("seed_source"),
            video=sidecar.get("video") or {},
            selection=sidecar.get("selection") or {},
            fallback=sidecar.get("fallback"),
            attempts=sidecar.get("attempts") or [],
            request=sidecar.get("request") or {},
            inputs=sidecar.get("inputs") or [],
            resolved=sidecar.get("resolved") or {},
            ticket=sidecar.get("ticket") or {},
            cost=sidecar.get("cost") or {},
            timings=sidecar.get("timings") or {},
            schema=sidecar.get("schema"),
            ttv_version=sidecar.get("ttv_version"),
            already_done=outcome.get("status") == "already_done",
            warnings=list(outcome.get("warnings") or []),
        )


@dataclass(frozen=True)
class Film:
    """A finished film: the joined MP4, its record (segments, costs, joins) and whether it was
    already done before this run."""

    run_id: str
    path: str
    sidecar_path: str
    record: Dict[str, Any] = field(default_factory=dict)
    already_done: bool = False

    @classmethod
    def from_made(cls, made: Dict[str, Any]) -> "Film":
        """The film of the native module's JSON."""
        return cls(
            run_id=str(made["run_id"]),
            path=str(made["path"]),
            sidecar_path=str(made["sidecar_path"]),
            record=made.get("record") or {},
            already_done=bool(made.get("already_done")),
        )


@dataclass(frozen=True)
class Progress:
    """One progress event of a running job.

    ``stage`` is ``validated``, ``submitted``, ``queued`` (with ``position``), ``running``
    (with ``fraction`` from 0 to 1 when the provider says), ``downloading`` (``received``
    and ``total`` bytes) or ``verifying``; a film reports ``started``, ``segment``,
    ``progress`` and ``joining``. ``data`` holds the whole event.
    """

    job_id: str
    stage: str
    fraction: Optional[float] = None
    position: Optional[int] = None
    data: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, job_id: str, event: Dict[str, Any]) -> "Progress":
        """A progress object of the native module's event JSON."""
        stage = event.get("stage") or event.get("event") or "progress"
        return cls(
            job_id=job_id,
            stage=str(stage),
            fraction=event.get("fraction"),
            position=event.get("position"),
            data=event,
        )


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands: its state in the job store (``created``, ``submitting``,
    ``submitted``, ``running``, ``done``, ``failed``, ``cancelled``, ``unknown``, ...), whether
    this process has seen it end, and its latest progress."""

    job_id: str
    state: str
    done: bool
    progress: Optional[Progress] = None
    record: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobRecord:
    """A job of the job store: its id, state, backend, request, estimate, ticket, output path
    and what it cost."""

    id: str
    state: str
    backend: str
    model: Optional[str]
    out: str
    created_at: str
    updated_at: str
    estimated_usd: Optional[float]
    charged_usd: Optional[float]
    error: Optional[str]
    record: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, job: Dict[str, Any]) -> "JobRecord":
        """A record of the store's job JSON."""
        charged = job.get("charged")
        return cls(
            id=str(job["id"]),
            state=str(job.get("state", "")),
            backend=str(job.get("backend", "")),
            model=job.get("model"),
            out=str(job.get("out", "")),
            created_at=str(job.get("created_at", "")),
            updated_at=str(job.get("updated_at", "")),
            estimated_usd=_usd((job.get("estimate") or {}).get("usd")),
            charged_usd=_usd(charged) if charged and charged.get("currency") == "usd" else None,
            error=job.get("error"),
            record=job,
        )


@dataclass(frozen=True)
class Backend:
    """A backend ttv knows: whether it can be used here (and why not), and what it can do."""

    name: str
    aliases: List[str]
    kind: str
    available: bool
    reason: Optional[str]
    model: Optional[str]
    summary: str
    capabilities: Optional[Dict[str, Any]] = None

    @classmethod
    def from_json(cls, row: Dict[str, Any]) -> "Backend":
        """A backend of the native module's row."""
        return cls(
            name=str(row["name"]),
            aliases=list(row.get("aliases") or []),
            kind=str(row.get("kind", "")),
            available=bool(row.get("available")),
            reason=row.get("reason"),
            model=row.get("model"),
            summary=str(row.get("summary", "")),
            capabilities=row.get("capabilities"),
        )


@dataclass(frozen=True)
class Estimate:
    """What a job would be, decided without spending: the backend and why, the settings it
    would use, and the cost (``usd``; ``estimate`` has the basis and price source)."""

    backend: str
    model: Optional[str]
    usd: float
    reason: str
    resolved: Dict[str, Any]
    estimate: Dict[str, Any]
    fallback_chain: List[str]
    fallback: Optional[Dict[str, Any]] = None

    @classmethod
    def from_json(cls, plan: Dict[str, Any]) -> "Estimate":
        """An estimate of the native module's dry-run plan."""
        estimate = plan.get("estimate") or {}
        return cls(
            backend=str(plan["backend"]),
            model=plan.get("model"),
            usd=_usd(estimate.get("usd")) or 0.0,
            reason=str(plan.get("reason", "")),
            resolved=plan.get("resolved") or {},
            estimate=estimate,
            fallback_chain=list(plan.get("fallback_chain") or []),
            fallback=plan.get("fallback"),
        )


@dataclass(frozen=True)
class Spend:
    """What jobs cost: ``total_usd``, ``lines`` by day, backend and model, every ledger
    entry (``jobs``), and the configured ``budget``."""

    total_usd: float
    lines: List[Dict[str, Any]]
    jobs: List[Dict[str, Any]]
    budget: Dict[str, Any]

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Spend":
        """The spend of the native module's JSON."""
        return cls(
            total_usd=_usd(data.get("total")) or 0.0,
            lines=list(data.get("lines") or []),
            jobs=list(data.get("jobs") or []),
            budget=data.get("budget") or {},
        )

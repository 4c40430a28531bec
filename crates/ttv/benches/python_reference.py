#!/usr/bin/env python3
"""Reference rows for the polling benchmark: the same load driven by the providers' official
async Python clients against the simulator.

`cargo bench -p ttv --bench polling` (polling.rs) measures ttv's adaptive polling against
fixed intervals. This script puts the providers' own clients under the same load, as
reference rows printed in that bench's table format:

- `py-runwayml`: `runwayml.AsyncRunwayML(...).text_to_video.create(model="gen4.5", ...)`, then
  `.wait_for_task_output()` (the SDK sleeps 6 s +/- 1.5 s between status calls);
- `py-fal-client`: `fal_client.AsyncClient(key=...).submit(...)`, then `handle.get()` (a status
  call every 0.1 s, then the result call).

Same conditions as polling.rs: N concurrent jobs, queue time 0, run times drawn from a
log-normal (median 60 s of model time, spread 0.3, seed 16), the simulator's clock 10 times
faster than the model's (`--time-scale`). Each row gets its own simulator process. As in
polling.rs, the SDKs' waits are divided by the time scale so that they poll at their real
rate in model time: runwayml's `POLL_TIME`/`POLL_JITTER` module constants are set to
6/scale and 3/scale, fal-client's `get(interval=0.1/scale)`. fal-client always builds
`https://{FAL_QUEUE_RUN_HOST}/` submit URLs and the simulator speaks plain HTTP, so the
script points the module's `QUEUE_URL_FORMAT` at the simulator's fal base (status and result
URLs come from the submit's answer, as with the real service). Nothing in the installed
packages is edited; both overrides are made at run time, in this process only.

Figures, as polling.rs computes them: the delay from the simulator marking a job done (its
`/_sim/tasks` timeline) to the client receiving the status answer that reports it, in model
seconds (mean, p95); status requests per job (`poll` entries of the simulator's request
log); CPU time and peak-memory growth of this Python process per job (the simulator is a
separate process); wall time from the first submit to the last job's end against the ideal
(the longest job's queued-to-done time). Unlike ttv's `generate`, the SDK calls do not
download the video, so the Python rows do less work per job than the Rust rows.

Not a CI dependency. To run it:

    python3 -m venv .venv-pyref && .venv-pyref/bin/pip install runwayml fal-client
    cargo build -p ttv-sim
    .venv-pyref/bin/python crates/ttv/benches/python_reference.py \
        --sim target/debug/ttv-sim --jobs 200

`--sim` defaults to `$TTV_SIM_BIN`, else `target/debug/ttv-sim`, else `ttv-sim` on the PATH;
`--jobs` to 200 (`$TTV_BENCH_JOBS`); `--time-scale` to 10 (`$TTV_BENCH_TIME_SCALE`);
`--rows` to `py-runwayml,py-fal-client`. A row whose client is not installed is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

MEDIAN_SECS = 60.0
SPREAD = 0.3
SEED = 16
API_KEY = "bench"
FAL_APP = "fal-ai/kling-video/v2.1/master/text-to-video"


def utc(s: str | None) -> datetime | None:
    if not s:
        return None
    s = s.replace("Z", "+00:00")
    # Python 3.10's fromisoformat takes at most 6 fractional digits.
    if "." in s:
        head, rest = s.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, tz = rest[:digits], rest[digits:]
        s = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
    return datetime.fromisoformat(s)


def now() -> datetime:
    return datetime.now(timezone.utc)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=120) as r:
        return json.load(r)


class Sim:
    """The simulator binary as a child process, with the Rust bench's parameters."""

    def __init__(self, binary: str, scale: float):
        self.proc = subprocess.Popen(
            [
                binary,
                "--json",
                "--api-key", API_KEY,
                "--queue-secs", "0",
                "--run-secs", str(MEDIAN_SECS),
                "--run-spread", str(SPREAD),
                "--time-scale", str(scale),
                "--seed", str(SEED),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise SystemExit(f"simulator {binary} printed no addresses")
        self.urls = json.loads(line)
        self.root = self.urls["runway"].rsplit("/runway", 1)[0]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def drive_runway(sim: Sim, jobs: int, scale: float) -> tuple[dict, int]:
    import runwayml
    import runwayml.lib.polling as rw_polling

    # The SDK waits POLL_TIME +/- POLL_JITTER/2 real seconds; the simulator's clock runs
    # `scale` times faster, so the same wait in model time is 1/scale of it.
    rw_polling.POLL_TIME = 6 / scale
    rw_polling.POLL_JITTER = 3 / scale
    client = runwayml.AsyncRunwayML(
        api_key=API_KEY, base_url=sim.urls["runway"], max_retries=2, timeout=120
    )
    noticed: dict[str, datetime] = {}
    failed = 0

    async def one(i: int):
        nonlocal failed
        try:
            task = await client.text_to_video.create(
                model="gen4.5", prompt_text="benchmark", ratio="1280:720", duration=5
            )
            done = await task.wait_for_task_output(timeout=None)
            # wait_for_task_output returns as soon as the status call that reports
            # SUCCEEDED is answered: the moment the client notices.
            noticed[done.id] = now()
        except Exception as e:  # noqa: BLE001 - counted, like polling.rs's failures
            failed += 1
            if failed <= 3:
                print(f"py-runwayml job {i}: {e!r}", file=sys.stderr)

    await asyncio.gather(*(one(i) for i in range(jobs)))
    await client.close()
    return noticed, failed


async def drive_fal(sim: Sim, jobs: int, scale: float) -> tuple[dict, int]:
    import fal_client
    import fal_client.client as fal_mod

    # Submit URLs are always https://{FAL_QUEUE_RUN_HOST}/...; the simulator is plain HTTP.
    fal_mod.QUEUE_URL_FORMAT = sim.urls["fal"].rstrip("/") + "/"
    client = fal_client.AsyncClient(key=API_KEY)
    http = await client._client
    # handle.get() polls status until COMPLETED, then fetches the result: the last status
    # answer for a request is the one that reported it done.
    last_status: dict[str, datetime] = {}

    async def on_response(response):
        path = response.request.url.path
        if path.endswith("/status"):
            rid = path.rsplit("/requests/", 1)[-1].split("/", 1)[0]
            last_status[rid] = now()

    http.event_hooks["response"].append(on_response)
    failed = 0
    finished: list[str] = []

    async def one(i: int):
        nonlocal failed
        try:
            handle = await client.submit(FAL_APP, arguments={"prompt": "benchmark", "duration": "5"})
            await handle.get(interval=0.1 / scale)
            finished.append(handle.request_id)
        except Exception as e:  # noqa: BLE001
            failed += 1
            if failed <= 3:
                print(f"py-fal-client job {i}: {e!r}", file=sys.stderr)

    await asyncio.gather(*(one(i) for i in range(jobs)))
    await http.aclose()
    return {rid: last_status[rid] for rid in finished if rid in last_status}, failed


ROWS = {
    "py-runwayml": ("runway", "runwayml", drive_runway),
    "py-fal-client": ("fal", "fal_client", drive_fal),
}


def rss_kib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def cpu_secs() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_row(name: str, binary: str, jobs: int, scale: float) -> dict | None:
    provider, module, drive = ROWS[name]
    try:
        __import__(module)
    except ImportError:
        print(f"{name:<22} (skipped: {module} is not installed)")
        return None
    sim = Sim(binary, scale)
    try:
        rss_before = rss_kib()
        cpu_before = cpu_secs()
        started = time.monotonic()
        noticed, failed = asyncio.run(drive(sim, jobs, scale))
        wall = time.monotonic() - started
        cpu = cpu_secs() - cpu_before
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        tasks = get_json(f"{sim.root}/_sim/tasks")
        requests = get_json(f"{sim.root}/_sim/requests")
    finally:
        sim.close()
    done: dict[str, datetime] = {}
    longest = 0.0
    for t in tasks:
        if t.get("provider") != provider:
            continue
        q = utc((t.get("queued_at") or {}).get("utc"))
        d = utc((t.get("done_at") or {}).get("utc"))
        if q and d:
            longest = max(longest, (d - q).total_seconds())
            done[t["id"]] = d
    delays = sorted(
        (at - done[tid]).total_seconds() * scale for tid, at in noticed.items() if tid in done
    )
    mean = sum(delays) / max(len(delays), 1)
    p95 = delays[max(math.ceil(len(delays) * 0.95) - 1, 0)] if delays else float("nan")
    polls = sum(1 for r in requests if r.get("provider") == provider and r.get("endpoint") == "poll")
    return {
        "mode": name,
        "jobs": jobs,
        "failed": failed,
        "mean_delay": mean,
        "p95_delay": p95,
        "polls_per_job": polls / jobs,
        "cpu_ms_per_job": cpu * 1000 / jobs,
        # ru_maxrss is the process's peak (KiB): its growth over the RSS before the row. A
        # later row's figure is 0 when the process already peaked higher in an earlier one.
        "kib_per_job": max(peak - rss_before, 0) / jobs,
        "wall": wall,
        "ideal": longest,
    }


def default_sim() -> str:
    if os.environ.get("TTV_SIM_BIN"):
        return os.environ["TTV_SIM_BIN"]
    if os.path.exists("target/debug/ttv-sim"):
        return "target/debug/ttv-sim"
    return shutil.which("ttv-sim") or "ttv-sim"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sim", default=default_sim(), help="ttv-sim binary (default: $TTV_SIM_BIN)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("TTV_BENCH_JOBS", 200)))
    ap.add_argument(
        "--time-scale", type=float, default=float(os.environ.get("TTV_BENCH_TIME_SCALE", 10))
    )
    ap.add_argument("--rows", default="py-runwayml,py-fal-client")
    ap.add_argument("--json", action="store_true", help="also print each row as JSON")
    args = ap.parse_args()
    scale, jobs = args.time_scale, args.jobs
    print(
        f"{jobs} concurrent jobs, log-normal run times (median {MEDIAN_SECS} s, spread {SPREAD}), "
        f"simulator clock x{scale}; delays in model seconds"
    )
    print(
        f"{'polling':<22} {'mean s':>9} {'p95 s':>9} {'polls/job':>10} {'cpu ms':>9} "
        f"{'KiB/job':>9} {'wall/ideal':>16}",
        flush=True,
    )
    for name in args.rows.split(","):
        if name not in ROWS:
            print(f"{name:<22} (unknown row; rows: {', '.join(ROWS)})")
            continue
        v = run_row(name, args.sim, jobs, scale)
        if v is None:
            continue
        ratio = v["wall"] / v["ideal"] if v["ideal"] else float("nan")
        fail = f" ({v['failed']} failed)" if v["failed"] else ""
        wall_ideal = f"{v['wall']:>7.2f}/{v['ideal']:<5.2f}={ratio:.2f}x"
        print(
            f"{name:<22} {v['mean_delay']:>9.2f} {v['p95_delay']:>9.2f} {v['polls_per_job']:>10.1f} "
            f"{v['cpu_ms_per_job']:>9.3f} {v['kib_per_job']:>9.1f} {wall_ideal}{fail}",
            flush=True,
        )
        if args.json:
            print(json.dumps(v))


if __name__ == "__main__":
    main()

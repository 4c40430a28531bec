"""asyncio concurrency (a hundred `agenerate` calls at once, without a thread each) and the
GIL released while ttv waits."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from support import assert_playable, backend_config, write_png

import ttv


def test_a_hundred_concurrent_agenerate_calls(start_sim, isolated):
    sim = start_sim(None, "--queue-secs", "0", "--run-secs", "0.5")
    config = backend_config(sim, "runway", remote_api_settings={"polling_interval": 0.2})
    client = ttv.Client(config=config)
    image = write_png(isolated / "k.png", 320, 180)
    python_threads = []

    async def watch(done: asyncio.Event) -> None:
        while not done.is_set():
            python_threads.append(threading.active_count())
            await asyncio.sleep(0.05)

    async def main():
        done = asyncio.Event()
        watcher = asyncio.create_task(watch(done))
        videos = await asyncio.gather(
            *(
                client.agenerate(
                    f"kite number {n}", image=image, duration=5, backend="runway",
                    out=f"kites/kite-{n:03}.mp4", job_id=f"kite-{n:03}",
                )
                for n in range(100)
            )
        )
        done.set()
        await watcher
        return videos

    Path("kites").mkdir()
    videos = asyncio.run(main())
    assert sorted(v.job_id for v in videos) == [f"kite-{n:03}" for n in range(100)]
    for v in videos:
        assert_playable(Path(v.path), 5.0)
    assert sim.paid_submits()["runway"] == 100, "one paid submit per job"
    assert len({t["id"] for t in sim.tasks()}) == 100
    assert max(python_threads) <= 2, "waiting needs no Python thread per call"
    assert {j.state for j in client.jobs()} == {"done"}


def test_other_python_threads_run_while_generate_waits(start_sim, isolated):
    sim = start_sim(None, "--queue-secs", "0", "--run-secs", "1.5")
    client = ttv.Client(config=backend_config(sim, "runway"))
    image = write_png(isolated / "k.png", 320, 180)
    ticks = {"n": 0}
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks["n"] += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        started = time.monotonic()
        before = ticks["n"]
        video = client.generate("a kite", image=image, duration=5, backend="runway",
                                out="kite.mp4")
        during = ticks["n"] - before
        waited = time.monotonic() - started
    finally:
        stop.set()
        counter.join()
    assert waited >= 1.5
    assert_playable(Path(video.path), 5.0)
    # A pure-Python loop counts millions per second; with the GIL held by the wait it
    # could count only in the interpreter's switch intervals of the main thread's own
    # Python code, a few hundred times.
    assert during > 100_000, during


def test_a_job_waits_in_a_worker_thread_while_the_main_thread_works(start_sim, isolated):
    sim = start_sim(None, "--queue-secs", "0", "--run-secs", "1")
    client = ttv.Client(config=backend_config(sim, "runway"))
    image = write_png(isolated / "k.png", 320, 180)
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            client.generate("a kite", image=image, duration=5, backend="runway",
                            out="kite.mp4")
        )
    )
    worker.start()
    spins = 0
    while worker.is_alive():
        spins += 1
    worker.join()
    assert results and Path(results[0].path).exists()
    assert spins > 100_000, spins

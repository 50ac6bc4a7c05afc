"""Many files through one job at full speed: worker processes, one engine thread each, or (one job) in this
process; and, on a GPU, files denoised in padded batches.

Workers start by `forkserver` (a fork of this process after torch or onnxruntime started threads can deadlock)
and ignore SIGINT: Ctrl-C reaches this process, which stops them with SIGTERM, on which they raise SystemExit
so that an output being written is removed (see `centaurus.atomic`). No torch here except in `enhance_batches`.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_work: Callable[[Any], Any] | None = None  # the job of this worker process


def default_jobs() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def one_thread_each() -> None:
    """Limit the numeric libraries of this process to one thread (set before they start their pools)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def _start_worker(work: Callable[[Any], Any]) -> None:
    global _work
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    one_thread_each()
    _work = work


def _run_one(item):
    return _work(item)


def run_files(work: Callable[[Any], Any], items: Iterable, *, jobs: int) -> Iterator:
    """`work(item)` for every item, yielded as each finishes: in order by this process when `jobs` is 1,
    else in any order by `jobs` worker processes, each with its own copy of `work` (so it must pickle; make
    engines inside it on first use). On KeyboardInterrupt the workers are stopped before it propagates."""
    items = list(items)
    if jobs <= 1 or len(items) <= 1:
        yield from map(work, items)
        return
    context = multiprocessing.get_context("forkserver")
    pool = context.Pool(min(jobs, len(items)), initializer=_start_worker, initargs=(work,))
    try:
        yield from pool.imap_unordered(_run_one, items)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def enhance_batches(task, model, signals: list, *, device, max_samples: int = 16000 * 600) -> list:
    """Denoise (L,) float32 arrays one shot, in batches padded to their longest (at most `max_samples` of
    padded audio a batch), sorted by length so little is padding. The model is causal, so each output equals
    the file's own one-shot enhancement. Returns (L,) arrays in the order given."""
    import torch
    import torch.nn.functional as F
    order = sorted(range(len(signals)), key=lambda i: len(signals[i]))
    out: list = [None] * len(signals)
    batch: list[int] = []

    def run(batch: list[int]) -> None:
        longest = len(signals[batch[-1]]) + task.delay
        longest += -longest % task.factor
        x = torch.stack([F.pad(torch.from_numpy(signals[i]), (0, longest - len(signals[i]))) for i in batch])
        with torch.inference_mode():
            y = model(x[:, None].to(device))[:, 0].float().cpu().numpy()
        for row, i in zip(y, batch):
            out[i] = row[task.delay: task.delay + len(signals[i])]

    for i in order:
        if batch and (len(batch) + 1) * (len(signals[i]) + task.delay) > max_samples:
            run(batch)
            batch = []
        batch.append(i)
    if batch:
        run(batch)
    return out

"""Does the mixing engine feed training faster than training consumes? Examples/s of the engine (DataLoader with
0, 1 and 2 workers, as the trainer drives it) against the steps/s of the recipe's denoise training step, all
pinned to the same cores.

    python benchmarks/data_engine.py [--recipe recipes/denoise/engine.yaml] [--set KEY=VALUE ...]
        [--cores 0,1] [--threads N] [--workers 0 1 2] [--batches 15] [--steps 15] [--only-existing]
        [--out FILE.json]

The engine runs the recipe's `data.engine` section unchanged (rooms, noise, devices, voices), over its pools.
--only-existing keeps the listed pools whose folders exist; a kind left with none gets a stand-in pool of
generated audio in a temporary folder (said in the output), so the figure can be taken before every pool is
built. Engine rate: batches of `trainer.batch_size` examples after the first (which pays worker start-up),
examples/s = batches x batch_size / seconds; every stage's libraries are loaded by a few examples drawn first,
and in-process (0 workers) torch runs one thread, as in a DataLoader worker. Training rate: forward, loss,
backward and AdamW step on one engine batch, repeated, with --threads torch threads (default: one per core).
The engine must feed examples/s >= steps/s x batch_size; with workers, those share the cores with training.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from centaurus.atomic import write_text
from centaurus.data.pools import PoolClip, write_manifest
from centaurus.errors import CentaurusError
from centaurus.layers import param_groups
from centaurus.training import load_recipe

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


def stand_in_pool(folder: Path, kind: str) -> Path:
    """Eight generated clips: noise-like speech bursts (speech) or coloured noise (noise), 2-6 s each."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(8):
        n = int(rng.uniform(2, 6) * RATE)
        spectrum = np.fft.rfft(rng.standard_normal(n)) / np.maximum(np.arange(n // 2 + 1), 1) ** (i % 3 / 2)
        wav = np.fft.irfft(spectrum, n)
        if kind == "speech":
            wav *= (np.arange(n) // int(0.3 * RATE)) % 3 != 2
        sf.write(folder / f"{i}.wav", (0.3 * wav / np.abs(wav).max()).astype(np.float32), RATE)
        clips.append(PoolClip(f"{i}.wav", "generated", "CC0", f"g{i % 4}", "", n / RATE, kind, "stand-in"))
    write_manifest(folder, clips)
    return folder


def existing_pools(recipe, scratch: Path) -> list[str]:
    """Overrides that keep the recipe's existing pools, or a stand-in pool for a kind with none."""
    engine, overrides = recipe.data.engine, []
    for key, kind in (("speech_pools", "speech"), ("noise_pools", "noise")):
        kept = [p for p in getattr(engine, key) if (Path(engine.pool_root) / p.pool).is_dir()]
        if not kept:
            folder = stand_in_pool(scratch / f"{kind}-stand-in", kind)
            print(f"note: none of data.engine.{key} exists under {engine.pool_root}: a generated stand-in pool")
            kept_text = f"[{{pool: {folder}}}]"
        else:
            kept_text = "[" + ", ".join(f"{{pool: {p.pool}, weight: {p.weight}}}" for p in kept) + "]"
        print(f"{key}: {kept_text}")
        overrides.append(f"data.engine.{key}={kept_text}")
    return overrides


def engine_rate(task, train_set, *, batch_size: int, batches: int, workers: int) -> float:
    keys = [[(0, b * batch_size + i) for i in range(batch_size)] for b in range(batches + 1)]
    loader = torch.utils.data.DataLoader(train_set, batch_sampler=keys, num_workers=workers,
                                         collate_fn=task.collate, generator=torch.Generator())
    stream = iter(loader)
    next(stream)  # worker start-up and the first batch
    start = time.perf_counter()
    for _ in stream:
        pass
    return batches * batch_size / (time.perf_counter() - start)


def step_rate(recipe, task, batch, *, steps: int) -> float:
    model = task.build_model()
    opt = recipe.optim
    optimizer = torch.optim.AdamW(param_groups(model, lr=opt.lr, ssm_lr=opt.ssm_lr, weight_decay=opt.weight_decay))
    model.train()

    def step():
        loss = task.loss(batch, task.forward(model, batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default=str(ROOT / "recipes" / "denoise" / "engine.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--cores", default="0,1", help="CPU cores to pin to (comma-separated)")
    parser.add_argument("--threads", type=int, help="torch threads of the training step (default: one per core)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--only-existing", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    cores = [int(c) for c in args.cores.split(",")]
    os.sched_setaffinity(0, cores)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            recipe = load_recipe(args.recipe, args.overrides)
            if recipe.data.engine is None:
                print(f"error: {args.recipe}: no data.engine section", file=sys.stderr)
                return 2
            if args.only_existing:
                recipe = load_recipe(args.recipe, [*args.overrides, *existing_pools(recipe, Path(scratch))])
            task = recipe.build_task()
            train_set = task.dataset("train", train=True)
            batch_size = recipe.trainer.batch_size
            torch.set_num_threads(1)
            warm = [train_set[(1, i)] for i in range(2 * batch_size)]
            results = {"recipe": str(args.recipe), "cores": cores, "threads": args.threads or len(cores),
                       "batch_size": batch_size,
                       "segment_samples": task.segment, "load_average": os.getloadavg(), "examples_per_s": {}}
            for workers in args.workers:
                rate = engine_rate(task, train_set, batch_size=batch_size, batches=args.batches, workers=workers)
                results["examples_per_s"][workers] = rate
                print(f"engine, {workers} workers: {rate:.1f} examples/s")
            batch = task.collate(warm[:batch_size])
            torch.set_num_threads(args.threads or len(cores))
            steps = step_rate(recipe, task, batch, steps=args.steps)
            results["steps_per_s"] = steps
            results["examples_consumed_per_s"] = steps * batch_size
            print(f"training: {steps:.2f} steps/s x batch {batch_size} = {steps * batch_size:.1f} examples/s consumed")
            print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    except CentaurusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.out:
        write_text(args.out, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

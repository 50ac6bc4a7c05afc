"""Streaming cost of the task models: RTF, per-chunk p50/p99 latency and peak RSS, on 1 thread, fp32 CPU.

Each model runs chunk by chunk through `centaurus.streaming.Streamer` at 8, 16 and 32 ms chunks, each case in
its own process so its peak RSS is its own. A model is a checkpoint folder or shipped name, or an offline
recipe (its architecture with initial weights: cost does not depend on the weights). Then a long file is
denoised through `enhance_file` to show memory stays bounded.

    python benchmarks/streaming.py [--seconds 20] [--long-minutes 60] [MODEL ...]
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = [str(ROOT / "recipes" / task / "offline.yaml") for task in ("kws", "denoise", "asr")]


def load(model: str):
    """(name, streaming model, look-ahead samples) from a recipe, a checkpoint folder or a shipped name."""
    from centaurus.training import load_model, load_recipe, resolve_checkpoint
    if model.endswith(".yaml"):
        recipe = load_recipe(model, [])
        task = recipe.build_task()
        network = task.build_model().eval()
        return f"{recipe.name} (recipe)", network, task.latency_samples(network)
    _, task, network, ckpt = load_model(resolve_checkpoint(model))
    name = ckpt.path.name if ckpt.path.name not in ("best", "last") else model
    return name, network, task.latency_samples(network)


def stream_case(model: str, chunk_ms: float, seconds: float) -> dict:
    from centaurus.streaming import Streamer
    torch.set_num_threads(1)
    name, network, lookahead = load(model)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    streamer = Streamer(network, chunk_ms=chunk_ms, lookahead_samples=lookahead)
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal(int(seconds * 16000)).astype(np.float32))
    streamer.run(audio[:16000])  # warm the caches of this chunk length
    streamer.reset()
    streamer.run(audio)
    report = streamer.report()
    return dict(name=name, rtf=report.rtf, p50=report.chunk_ms_p50, p99=report.chunk_ms_p99,
                latency=report.algorithmic_latency_ms, baseline_mb=baseline,
                rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)


def long_case(model: str, minutes: float) -> dict:
    from centaurus.streaming import enhance_file
    torch.set_num_threads(1)
    _, network, _ = load(model)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "long.wav"
        with sf.SoundFile(source, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
            rng = np.random.default_rng(0)
            for _ in range(int(minutes * 60)):
                f.write((0.1 * rng.standard_normal(16000)).astype(np.float32))
        start = time.perf_counter()
        report = enhance_file(network, source, Path(tmp) / "out.wav", chunk_ms=16, progress=False)
        wall = time.perf_counter() - start
    return dict(minutes=minutes, rtf=report.rtf, wall_s=wall, baseline_mb=baseline,
                rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)


def _subprocess(*args) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode:
        return dict(error=(proc.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    parser.add_argument("--seconds", type=float, default=20.0, help="audio streamed per case")
    parser.add_argument("--long-minutes", type=float, default=60.0, help="length of the long denoising file")
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--long", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(stream_case(args.case[0], float(args.case[1]), float(args.case[2]))))
        return
    if args.long:
        print(json.dumps(long_case(args.long[0], float(args.long[1]))))
        return
    print(f"1 thread, fp32 CPU, {args.seconds:g} s of audio per case")
    print("peak RSS is the whole process; 'model' is what streaming added after import and model load")
    print(f"{'model':<28}{'chunk ms':>9}{'RTF':>8}{'p50 ms':>8}{'p99 ms':>8}{'latency ms':>12}"
          f"{'peak RSS MB':>13}{'model MB':>10}")
    for model in args.models:
        for chunk_ms in (8, 16, 32):
            r = _subprocess("--case", model, str(chunk_ms), str(args.seconds))
            if "error" in r:
                print(f"{model:<28}{chunk_ms:>9}  {r['error']}")
                continue
            print(f"{r['name'][:27]:<28}{chunk_ms:>9}{r['rtf']:>8.3f}{r['p50']:>8.2f}{r['p99']:>8.2f}"
                  f"{r['latency']:>12.1f}{r['rss_mb']:>13.0f}{r['rss_mb'] - r['baseline_mb']:>10.0f}")
    denoiser = next((m for m in args.models if "denoise" in m), None)
    if denoiser and args.long_minutes > 0:
        r = _subprocess("--long", denoiser, str(args.long_minutes))
        result = r.get("error") or (f"peak RSS {r['rss_mb']:.0f} MB ({r['rss_mb'] - r['baseline_mb']:.0f} MB over the "
                                    f"loaded model), RTF {r['rtf']:.3f}, {r['wall_s']:.0f} s")
        print(f"\ndenoising a {args.long_minutes:g}-minute file with {Path(denoiser).name}: {result}")


if __name__ == "__main__":
    main()

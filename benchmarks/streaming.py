"""Streaming cost of the task models: RTF, per-chunk p50/p99 latency and peak RSS, on 1 thread, fp32 CPU.

Each model runs chunk by chunk through `centaurus.streaming.Streamer` at 8, 16 and 32 ms chunks, each case in
its own process so its peak RSS is its own. A keyword spotter also runs as it is used, through
`KeywordSpotter` in its default 'window' context (a fresh 1 s window classified every 0.1 s), with the audio
pushed in pieces of the same sizes. A model is a checkpoint folder or shipped name, or an offline recipe (its
architecture with initial weights: cost does not depend on the weights); the default is each task's shipped
model, or its offline recipe while none ships. A denoiser with an exported ONNX step (`stream-16ms.onnx`
beside its weights) also runs it in onnxruntime on 1 thread, as do a recogniser's 40 ms acoustic step and a
keyword spotter's window step (`OnnxKeywordSpotter`). Then a long file is denoised by the real
`centaurus denoise` command, once per engine (torch, onnx), each in its own process, to show memory stays
bounded; these use the command's default threads. Last, the start-up of `kws detect`, `transcribe` and
`denoise` on a 1 s file, per engine, pinned to one core.

    python benchmarks/streaming.py [--seconds 20] [--long-minutes 60] [MODEL ...]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def default_models() -> list[str]:
    """Per task, the shipped model '<task>-offline', or the task's offline recipe while none ships."""
    from centaurus.training import shipped_models
    shipped = shipped_models()
    return [f"{task}-offline" if f"{task}-offline" in shipped else str(ROOT / "recipes" / task / "offline.yaml")
            for task in ("kws", "denoise", "asr")]


def load(model: str):
    """(name, task, streaming model) from a recipe, a checkpoint folder or a shipped name."""
    from centaurus.training import load_model, load_recipe, resolve_checkpoint
    if model.endswith(".yaml"):
        recipe = load_recipe(model, [])
        task = recipe.build_task()
        return f"{recipe.name} (recipe)", task, task.build_model().eval()
    _, task, network, ckpt = load_model(resolve_checkpoint(model))
    return ckpt.path.name if ckpt.path.name not in ("best", "last") else model, task, network


def _noise(seconds: float) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(int(seconds * 16000)).astype(np.float32)


def stream_case(model: str, chunk_ms: float, seconds: float) -> dict:
    import torch

    from centaurus.streaming import Streamer
    torch.set_num_threads(1)
    name, task, network = load(model)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    streamer = Streamer(network, chunk_ms=chunk_ms, lookahead_samples=task.latency_samples(network))
    audio = _noise(seconds)
    streamer.run(audio[:16000])  # warm the caches of this chunk length
    streamer.reset()
    streamer.run(audio)
    report = streamer.report()
    return dict(name=name, rtf=report.rtf, p50=report.chunk_ms_p50, p99=report.chunk_ms_p99,
                latency=report.algorithmic_latency_ms, baseline_mb=baseline,
                rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)


def spotter_case(model: str, chunk_ms: float, seconds: float) -> dict:
    """`KeywordSpotter` ('window' context) fed pieces of `chunk_ms`; p50/p99 are per piece, so p99 is a piece
    that completes a hop and classifies a window."""
    import torch

    from centaurus.streaming import KeywordSpotter
    torch.set_num_threads(1)
    name, task, network = load(model)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    spotter = KeywordSpotter(network, task.classes)
    audio, piece = torch.from_numpy(0.1 * _noise(seconds)), round(chunk_ms * 16)
    spotter.push(audio[:16000])  # warm the caches of the window length
    spotter.reset()
    timings = []
    for chunk in audio.split(piece):
        start = time.perf_counter()
        spotter.push(chunk)
        timings.append(time.perf_counter() - start)
    ms = sorted(t * 1000 for t in timings)
    return dict(name=f"{name} (spotter)", rtf=sum(timings) / seconds, p50=ms[len(ms) // 2],
                p99=ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))],
                latency=(piece + spotter.hop) / 16, baseline_mb=baseline,
                rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)


def onnx_case(model: str, chunk_ms: float, seconds: float) -> dict:
    """The model's exported step for `chunk_ms` in onnxruntime on 1 thread, through `OnnxStreamer`."""
    from centaurus.streaming.onnx_step import OnnxStreamer, step_path
    streamer = OnnxStreamer(step_path(model, chunk_ms), threads=1)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    audio = _noise(seconds)
    streamer.push(audio[:16000])  # warm up
    streamer.reset()
    streamer.push(audio)
    streamer.flush()
    report = streamer.report()
    return dict(name=f"{model} (onnx)", rtf=report.rtf, p50=report.chunk_ms_p50, p99=report.chunk_ms_p99,
                latency=report.algorithmic_latency_ms, baseline_mb=baseline,
                rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)


def onnx_spotter_case(model: str, chunk_ms: float, seconds: float) -> dict:
    """`OnnxKeywordSpotter` (the exported 'window' step, 1 thread) fed pieces of `chunk_ms`, as `spotter_case`."""
    from centaurus.streaming.spotting import OnnxKeywordSpotter, window_step_path
    spotter = OnnxKeywordSpotter(window_step_path(model), threads=1)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    audio, piece = 0.1 * _noise(seconds), round(chunk_ms * 16)
    timings = []
    for start in range(0, audio.shape[0], piece):
        begin = time.perf_counter()
        spotter.push(audio[start:start + piece])
        timings.append(time.perf_counter() - begin)
    ms = sorted(t * 1000 for t in timings)
    return dict(name=f"{model} (onnx spotter)", rtf=sum(timings) / seconds, p50=ms[len(ms) // 2],
                p99=ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))], latency=(piece + spotter.hop) / 16,
                baseline_mb=baseline, rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)


STARTUP = {"kws detect": ["kws", "detect", "{wav}", "--jobs", "1"], "transcribe": ["transcribe", "{wav}"],
           "denoise": ["denoise", "{wav}", "-o", "{out}"]}


def startup_case(command: str, engine: str) -> dict:
    """The real `centaurus COMMAND --engine ENGINE` on a 1 s file, in a child process on one core: its wall time
    from launch to exit (start-up dominates at this length) and its peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "one-second.wav"
        sf.write(wav, 0.1 * _noise(1.0), 16000)
        argv = [a.format(wav=wav, out=Path(tmp) / "out.wav") for a in STARTUP[command]]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "centaurus_cli.main", *argv, "--engine", engine],
                              capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                              preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
        wall = time.perf_counter() - start
    if done.returncode:
        return dict(error=(done.stderr.strip().splitlines() or ["failed"])[-1])
    return dict(wall_s=wall, rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e3)


def long_case(model: str, minutes: float, engine: str) -> dict:
    """`centaurus denoise --engine ENGINE` on a `minutes`-long file, run in this process so its peak RSS is
    the command's own (this script imports nothing heavy before it)."""
    from centaurus_cli.main import app
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "long.wav"
        with sf.SoundFile(source, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
            rng = np.random.default_rng(0)
            for _ in range(int(minutes * 60)):
                f.write((0.1 * rng.standard_normal(16000)).astype(np.float32))
        start = time.perf_counter()
        try:
            app(["denoise", str(source), "-o", str(Path(tmp) / "out.wav"), "--model", model, "--engine", engine],
                standalone_mode=False)
        except Exception as err:  # reported as this case's error row
            return dict(error=f"{type(err).__name__}: {err}")
        wall = time.perf_counter() - start
    return dict(minutes=minutes, wall_s=wall, rtf=wall / (minutes * 60), torch_loaded="torch" in sys.modules,
                rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)


def _subprocess(*args) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode:
        return dict(error=(proc.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="default: each task's shipped model, else its offline recipe")
    parser.add_argument("--seconds", type=float, default=20.0, help="audio streamed per case")
    parser.add_argument("--long-minutes", type=float, default=60.0, help="length of the long denoising file")
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--spotter", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--onnx", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--long", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--onnx-spotter", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--startup", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.onnx_spotter:
        print(json.dumps(onnx_spotter_case(args.onnx_spotter[0], float(args.onnx_spotter[1]),
                                           float(args.onnx_spotter[2]))))
        return
    if args.startup:
        print(json.dumps(startup_case(*args.startup)))
        return
    if args.case:
        print(json.dumps(stream_case(args.case[0], float(args.case[1]), float(args.case[2]))))
        return
    if args.spotter:
        print(json.dumps(spotter_case(args.spotter[0], float(args.spotter[1]), float(args.spotter[2]))))
        return
    if args.onnx:
        print(json.dumps(onnx_case(args.onnx[0], float(args.onnx[1]), float(args.onnx[2]))))
        return
    if args.long:
        print(json.dumps(long_case(args.long[0], float(args.long[1]), args.long[2])))
        return
    models = args.models or default_models()
    print(f"1 thread, fp32 CPU, {args.seconds:g} s of audio per case")
    print("peak RSS is the whole process; 'model' is what streaming added after import and model load")
    print(f"{'model':<28}{'chunk ms':>9}{'RTF':>8}{'p50 ms':>8}{'p99 ms':>8}{'latency ms':>12}"
          f"{'peak RSS MB':>13}{'model MB':>10}")
    for model in models:
        cases = [("--case", chunk_ms) for chunk_ms in (8, 16, 32)]
        if "kws" in model:
            cases += [("--spotter", chunk_ms) for chunk_ms in (8, 16, 32)]
        if not model.endswith(".yaml"):  # the shipped ONNX steps: a denoiser's 16 ms, a recogniser's 40 ms
            cases += [("--onnx", 16)] if "denoise" in model else [("--onnx", 40)] if "asr" in model else []
            cases += [("--onnx-spotter", chunk_ms) for chunk_ms in (8, 16, 32)] if "kws" in model else []
        for kind, chunk_ms in cases:
            r = _subprocess(kind, model, str(chunk_ms), str(args.seconds))
            if "error" in r:
                print(f"{model:<28}{chunk_ms:>9}  {r['error']}")
                continue
            print(f"{r['name'][:27]:<28}{chunk_ms:>9}{r['rtf']:>8.3f}{r['p50']:>8.2f}{r['p99']:>8.2f}"
                  f"{r['latency']:>12.1f}{r['rss_mb']:>13.0f}{r['rss_mb'] - r['baseline_mb']:>10.0f}")
    denoiser = next((m for m in models if "denoise" in m), None)
    if denoiser and args.long_minutes > 0:
        print(f"\n`centaurus denoise` on a {args.long_minutes:g}-minute file with {Path(denoiser).name}:")
        for engine in ("torch", "onnx"):
            r = _subprocess("--long", denoiser, str(args.long_minutes), engine)
            result = r.get("error") or (f"peak RSS {r['rss_mb']:.0f} MB, RTF {r['rtf']:.3f} ({r['wall_s']:.0f} s), "
                                        f"torch {'loaded' if r['torch_loaded'] else 'never imported'}")
            print(f"  --engine {engine:<6} {result}")
    print("\nstart-up: the command on a 1 s file, launch to exit, 1 core (the default engine is onnx)")
    for command in STARTUP:
        for engine in ("onnx", "torch"):
            r = _subprocess("--startup", command, engine)
            print(f"  {command:<11} --engine {engine:<6} "
                  + (r.get("error") or f"{r['wall_s']:.2f} s, peak RSS {r['rss_mb']:.0f} MB"))

if __name__ == "__main__":
    main()

"""Streaming cost of the task models: RTF, per-chunk p50/p99 latency and peak RSS, on 1 thread, fp32 CPU.

Each model runs chunk by chunk through `centaurus.streaming.Streamer` at 8, 16 and 32 ms chunks, each case in
its own process so its peak RSS is its own. A keyword spotter also runs as it is used, through
`KeywordSpotter` in its default 'window' context (a fresh 1 s window classified every 0.1 s), with the audio
pushed in pieces of the same sizes. A model is a checkpoint folder or shipped name, or an offline recipe (its
architecture with initial weights: cost does not depend on the weights); the default is each task's shipped
model, or its offline recipe while none ships. A denoiser with exported ONNX steps (`stream-16ms.onnx`, the
live one, and `stream-256ms.onnx`, the file one, beside its weights) also runs them in onnxruntime on 1 thread,
as do a recogniser's 40 ms and 160 ms acoustic steps and a keyword spotter's window step (`OnnxKeywordSpotter`).

Then the targets of issue #32, each a whole process pinned to one core (--core), beside RNNoise: a long file
(--long-minutes, default 10) denoised by the real `centaurus denoise` (its default: onnx with the file step;
the 16 ms live step; the torch engine) and by RNNoise's C library (pyrnnoise's, called as
benchmarks/denoise_peers.py does, read and written the same way), in turns, --runs times: RTF from launch to
exit, and peak RSS. Last, the start-up of `kws detect`, `transcribe` and `denoise` on a 1 s file per engine,
and of `kws listen` through a private PulseAudio server (launch to 'listening', and to exit after its first
block).

    nice -n 10 python benchmarks/streaming.py [--seconds 20] [--long-minutes 10] [--core N] [--runs 3]
        [--only steps|file|startup] [MODEL ...]
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


def startup_case(command: str, engine: str, core: int) -> dict:
    """The real `centaurus COMMAND --engine ENGINE` on a 1 s file, in a child process on one core: its wall time
    from launch to exit (start-up dominates at this length) and its peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "one-second.wav"
        sf.write(wav, 0.1 * _noise(1.0), 16000)
        argv = [a.format(wav=wav, out=Path(tmp) / "out.wav") for a in STARTUP[command]]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "centaurus_cli.main", *argv, "--engine", engine],
                              capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                              preexec_fn=lambda: os.sched_setaffinity(0, {core}))
        wall = time.perf_counter() - start
    if done.returncode:
        return dict(error=(done.stderr.strip().splitlines() or ["failed"])[-1])
    return dict(wall_s=wall, rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e3)


def _pinned_run(argv: list[str], core: int, **popen) -> tuple[float, float, int, str]:
    """`argv` as a child process pinned to `core` with one OpenMP thread: (wall seconds from launch to exit,
    its own peak RSS in MB, exit status, stderr)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"},
                             preexec_fn=lambda: os.sched_setaffinity(0, {core}), **popen)
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1e3, child.returncode, err


def rnnoise_file(source: str, target: str) -> None:
    """RNNoise over a file as a command would run it: read in 10 s blocks, resampled to its 48 kHz and back,
    10 ms frames through the C library that pyrnnoise bundles (benchmarks/denoise_peers.py), written as
    16-bit WAV. Its two frames of delay are kept: aligning them changes nothing in the cost."""
    import soxr
    from denoise_peers import RNNoise  # this script's folder is on the path
    rnnoise = RNNoise()
    rnnoise.reset()
    up = soxr.ResampleStream(16000, 48000, 1, dtype="float32")
    down = soxr.ResampleStream(48000, 16000, 1, dtype="float32")
    pending = np.zeros(0, np.float32)
    with sf.SoundFile(source) as src, sf.SoundFile(target, "w", samplerate=16000, channels=1,
                                                   subtype="PCM_16") as dst:
        for block in src.blocks(blocksize=160000, dtype="float32", always_2d=True):
            pending = np.concatenate([pending, up.resample_chunk(block.mean(axis=1))])
            whole = pending.shape[0] // rnnoise.frame * rnnoise.frame
            out = [rnnoise.step(pending[i:i + rnnoise.frame]) for i in range(0, whole, rnnoise.frame)]
            pending = pending[whole:]
            dst.write(np.clip(down.resample_chunk(np.concatenate([np.zeros(0, np.float32), *out])), -1, 1))


def file_cases(model: str, minutes: float, core: int, runs: int, *, torch: bool = True) -> list[tuple[str, list]]:
    """The whole process on a `minutes`-long 16 kHz file, each pinned to `core`, in turns, `runs` times: the
    real `centaurus denoise` (default: onnx and its file step; the 16 ms live step; the torch engine) and
    RNNoise (`rnnoise_file`). Rows: (name, [(wall s, peak RSS MB) per run] or an error line)."""
    cli = [sys.executable, "-m", "centaurus_cli.main", "denoise"]
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "long.wav", str(Path(tmp) / "out.wav")
        with sf.SoundFile(source, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
            rng = np.random.default_rng(0)
            for _ in range(int(minutes * 60)):  # white noise costs a model what speech does
                f.write((0.1 * rng.standard_normal(16000)).astype(np.float32))
        cases = {"RNNoise (C, 48 kHz)": [sys.executable, __file__, "--rnnoise", str(source), out],
                 f"denoise {model} (default)": [*cli, str(source), "-o", out, "--model", model, "--force"],
                 f"denoise {model} --chunk-ms 16": [*cli, str(source), "-o", out, "--model", model, "--force",
                                                    "--chunk-ms", "16"]}
        if torch:
            cases[f"denoise {model} --engine torch"] = [*cli, str(source), "-o", out, "--model", model, "--force",
                                                        "--engine", "torch"]
        rows = {name: [] for name in cases}
        for _ in range(runs):
            for name, argv in cases.items():
                if isinstance(rows[name], str):
                    continue
                wall, rss, code, err = _pinned_run(argv, core, cwd=ROOT)
                rows[name] = rows[name] + [(wall, rss)] if code == 0 else (err.strip().splitlines() or ["failed"])[-1]
    return list(rows.items())


def listen_startup(core: int) -> dict:
    """`kws listen` against a private PulseAudio server (tests/pulse.py: its null sink's monitor is the input),
    pinned to `core`: launch to its 'listening' line, and launch to exit with --seconds of one 40 ms block
    (the first block heard and processed, then the stop)."""
    import shutil
    if shutil.which("pulseaudio") is None:
        return dict(error="pulseaudio is not installed (Makefile APT_PACKAGES installs it)")
    sys.path.insert(0, str(ROOT))
    from tests.pulse import PulseServer
    server = PulseServer()
    try:
        argv = [sys.executable, "-m", "centaurus_cli.main", "kws", "listen"]
        start = time.perf_counter()
        child = subprocess.Popen([*argv, "--seconds", "0.04"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env={**server.env, "OMP_NUM_THREADS": "1"},
                                 preexec_fn=lambda: os.sched_setaffinity(0, {core}))
        listening = None
        for line in child.stdout:
            if line.startswith("listening") and listening is None:
                listening = time.perf_counter() - start
        code = child.wait()
        done = time.perf_counter() - start
    finally:
        server.close()
    if code or listening is None:
        return dict(error=f"kws listen exited with {code}")
    return dict(listening_s=listening, first_block_s=done)


def _subprocess(*args) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode:
        return dict(error=(proc.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="default: each task's shipped model, else its offline recipe")
    parser.add_argument("--seconds", type=float, default=20.0, help="audio streamed per case")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="length of the long denoising file")
    parser.add_argument("--core", type=int, default=min(os.sched_getaffinity(0)),
                        help="the core the whole-process cases are pinned to (default: the first allowed)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each whole-file case, in turns")
    parser.add_argument("--no-torch", action="store_true", help="leave out the torch engine's whole-file run")
    parser.add_argument("--only", choices=("steps", "file", "startup"), help="one part of the benchmark")
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--spotter", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--onnx", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--rnnoise", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--onnx-spotter", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--startup", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.onnx_spotter:
        print(json.dumps(onnx_spotter_case(args.onnx_spotter[0], float(args.onnx_spotter[1]),
                                           float(args.onnx_spotter[2]))))
        return
    if args.startup:
        print(json.dumps(startup_case(*args.startup[:2], int(args.startup[2]))))
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
    if args.rnnoise:
        rnnoise_file(*args.rnnoise)
        return
    models = args.models or default_models()
    if args.only in (None, "steps"):
        steps(models, args.seconds)
    denoiser = next((m for m in models if "denoise" in m and not m.endswith(".yaml")), None)
    if denoiser and args.long_minutes > 0 and args.only in (None, "file"):
        whole_files(denoiser, args.long_minutes, args.core, args.runs, torch=not args.no_torch)
    if args.only in (None, "startup"):
        startup(args.core)


def steps(models: list[str], seconds: float) -> None:
    print(f"1 thread, fp32 CPU, {seconds:g} s of audio per case")
    print("peak RSS is the whole process; 'model' is what streaming added after import and model load")
    print(f"{'model':<28}{'chunk ms':>9}{'RTF':>8}{'p50 ms':>8}{'p99 ms':>8}{'latency ms':>12}"
          f"{'peak RSS MB':>13}{'model MB':>10}")
    for model in models:
        cases = [("--case", chunk_ms) for chunk_ms in (8, 16, 32)]
        if "kws" in model:
            cases += [("--spotter", chunk_ms) for chunk_ms in (8, 16, 32)]
        if not model.endswith(".yaml"):  # the shipped ONNX steps: a denoiser's 16 ms, a recogniser's 40 ms
            steps_ms = (16, 256) if "denoise" in model else (40, 160) if "asr" in model else ()
            cases += [("--onnx", chunk_ms) for chunk_ms in steps_ms]  # the live and file steps
            cases += [("--onnx-spotter", chunk_ms) for chunk_ms in (8, 16, 32)] if "kws" in model else []
        for kind, chunk_ms in cases:
            r = _subprocess(kind, model, str(chunk_ms), str(seconds))
            if "error" in r:
                print(f"{model:<28}{chunk_ms:>9}  {r['error']}")
                continue
            print(f"{r['name'][:27]:<28}{chunk_ms:>9}{r['rtf']:>8.3f}{r['p50']:>8.2f}{r['p99']:>8.2f}"
                  f"{r['latency']:>12.1f}{r['rss_mb']:>13.0f}{r['rss_mb'] - r['baseline_mb']:>10.0f}")


def whole_files(model: str, minutes: float, core: int, runs: int, *, torch: bool) -> None:
    print(f"\nthe whole process on a {minutes:g}-minute 16 kHz file, pinned to core {core}, {runs} run(s) each in "
          f"turns (load average {os.getloadavg()[0]:.1f}); targets: denoise RTF <= RNNoise's, <= 150 MB, "
          "torch <= 400 MB")
    print(f"{'command':<46}{'RTF':>8}{'(range)':>16}{'÷ RNNoise':>11}{'peak RSS MB':>13}")
    rows = file_cases(model, minutes, core, runs, torch=torch)
    rnnoise = next((r for name, r in rows if name.startswith("RNNoise") and not isinstance(r, str)), None)
    reference = min(w for w, _ in rnnoise) if rnnoise else None
    for name, runs_ in rows:
        if isinstance(runs_, str):
            print(f"{name:<46}  {runs_}")
            continue
        walls = [w / (minutes * 60) for w, _ in runs_]
        ratio = f"{min(w for w, _ in runs_) / reference:>11.2f}" if reference else f"{'':>11}"
        print(f"{name:<46}{min(walls):>8.3f}{f'{min(walls):.3f}-{max(walls):.3f}':>16}{ratio}"
              f"{max(r for _, r in runs_):>13.0f}")


def startup(core: int) -> None:
    print(f"\nstart-up: the command on a 1 s file, launch to exit, pinned to core {core} (the default engine is onnx)")
    for command in STARTUP:
        for engine in ("onnx", "torch"):
            r = _subprocess("--startup", command, engine, str(core))
            print(f"  {command:<11} --engine {engine:<6} "
                  + (r.get("error") or f"{r['wall_s']:.2f} s, peak RSS {r['rss_mb']:.0f} MB"))
    r = listen_startup(core)
    print("  kws listen  (default)       " + (r.get("error") or f"listening after {r['listening_s']:.2f} s; first "
                                              f"block processed and exited after {r['first_block_s']:.2f} s"))


if __name__ == "__main__":
    main()

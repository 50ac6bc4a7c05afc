"""`centaurus data denoise`: a VoiceBank+DEMAND layout of clean/noisy pairs at 16 kHz.

Clean speech is the dubbed dialogue of Fish Fillets NG (Czech and Dutch voice actors, Debian
`fillets-ng-data-cs`/`-nl`). Noise is Wesnoth's ambient loops, coloured noise, babble of several TTS voices and
optionally any folder of noise files (e.g. 0ad's `audio/ambient`). Test takes whole game levels (so distinct
utterances) and its own noise files; the SNR, 0-15 dB, is measured on active speech.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from centaurus.audio import audio_info, load_audio, save_audio
from centaurus.data.builders.asr import WORDNET, wordnet_sentences
from centaurus.data.builders.common import (
    SAMPLE_RATE,
    TTS_TOOLS,
    coloured_noise,
    parallel_map,
    pick_voices,
    prepare_out_dir,
    require,
    synthesize,
    write_info,
)
from centaurus.data.builders.kws import WESNOTH_AMBIENT
from centaurus.data.voicebank import FOLDERS
from centaurus.errors import AudioError, DatasetError

FILLETS = Path("/usr/share/games/fillets-ng/sound")
LANGS = ("cs", "nl")
SNR_RANGE = (0.0, 15.0)
MIN_SECONDS, MAX_SECONDS = 1.0, 12.0
NOISE_SECONDS = 30


def active_level(wav: torch.Tensor, *, frame: int = 320, floor_db: float = 40.0) -> float:
    """Mean power of the active frames of a (L,) signal: 20 ms frames within `floor_db` of the loudest.

    A simple stand-in for ITU-T P.56's active speech level, so that pauses do not lower the measured SNR.
    """
    n = max(1, wav.shape[0] // frame)
    power = wav[: n * frame].reshape(n, -1).pow(2).mean(dim=1) if wav.shape[0] >= frame else wav.pow(2).mean()[None]
    active = power[power >= power.max() * 10 ** (-floor_db / 10)]
    return float(active.mean().clamp_min(1e-12))


def mix_at_snr(clean: torch.Tensor, noise: torch.Tensor, snr_db: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) with `noise` scaled to `snr_db` below the active level of `clean`; both are scaled down
    together if the mixture would clip. Shapes (L,)."""
    gain = (active_level(clean) / (noise.pow(2).mean().clamp_min(1e-12) * 10 ** (snr_db / 10))).sqrt()
    noisy = clean + gain * noise
    peak = float(noisy.abs().max())
    scale = 0.95 / peak if peak > 0.95 else 1.0
    return noisy * scale, clean * scale


def fillets_utterances() -> dict[str, list[Path]]:
    """Dialogue files per `<lang>/<level>` group, longer than 1 s; sorted. The package ships a few empty
    files, which are skipped."""
    groups: dict[str, list[Path]] = {}
    for lang in LANGS:
        for ogg in sorted(FILLETS.glob(f"*/{lang}/*.ogg")):
            try:
                usable = audio_info(ogg).duration >= MIN_SECONDS
            except AudioError:
                usable = False
            if usable:
                groups.setdefault(f"{lang}/{ogg.parent.parent.name}", []).append(ogg)
    return groups


def _babble(*, seed: int, talkers: int, sentences: list[str]) -> torch.Tensor:
    """NOISE_SECONDS of babble: `talkers` TTS voices, each reading sentences back to back, summed."""
    total = NOISE_SECONDS * SAMPLE_RATE
    mix = torch.zeros(total)
    rng = random.Random(seed)
    for voice in pick_voices(talkers, seed=seed):
        speech = torch.cat(synthesize(voice, rng.sample(sentences, 10)))
        speech = speech.repeat(total // speech.shape[0] + 1)[:total]
        mix += speech / speech.pow(2).mean().sqrt().clamp_min(1e-6)
    return mix / talkers ** 0.5


@dataclass(frozen=True)
class _NoiseJob:
    kind: str
    path: str
    seed: int
    out: Path


def _make_noise(job: _NoiseJob) -> Path:
    """Write one 16 kHz noise file (a converted ambient loop, coloured noise or babble) and return its path."""
    if job.kind == "file":
        wav = load_audio(job.path, sample_rate=SAMPLE_RATE)
    elif job.kind == "babble":
        wav = _babble(seed=job.seed, talkers=6, sentences=wordnet_sentences()[job.seed % 2::2])
    else:
        exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}[job.kind]
        wav = coloured_noise(NOISE_SECONDS * SAMPLE_RATE, exponent=exponent, rng=np.random.default_rng(job.seed))
    save_audio(job.out, 0.5 * wav / wav.abs().max().clamp_min(1e-6), SAMPLE_RATE)
    return job.out


def _noise_jobs(work: Path, *, seed: int, extra_noise_dir: Path | None) -> dict[str, list[_NoiseJob]]:
    """Noise files per split: every fourth ambient file goes to test; generated noises use distinct seeds,
    and babble voices differ between train and test (different seeds, sentence halves)."""
    files = sorted(WESNOTH_AMBIENT.glob("*.ogg"))
    if extra_noise_dir is not None:
        files += sorted(p for p in Path(extra_noise_dir).rglob("*") if p.suffix.lower() in (".ogg", ".wav", ".flac"))
    jobs: dict[str, list[_NoiseJob]] = {"train": [], "test": []}
    for i, path in enumerate(files):
        split = "test" if i % 4 == 1 else "train"
        jobs[split].append(_NoiseJob("file", str(path), 0, work / split / f"{i:03d}_{path.stem}.wav"))
    for split, base in (("train", 1000), ("test", 2000)):
        for k, kind in enumerate(("white", "pink", "brown", "babble", "babble")):
            s = seed * 10000 + base + k
            jobs[split].append(_NoiseJob(kind, "", s, work / split / f"{kind}_{s}.wav"))
    return jobs


@dataclass(frozen=True)
class _PairJob:
    clean: Path
    noise: Path
    name: str
    snr: float
    seed: int
    clean_dir: Path
    noisy_dir: Path


def _make_pair(job: _PairJob) -> float:
    """Write `<name>.wav` into the clean and noisy folders; returns its duration in seconds."""
    clean = load_audio(job.clean, sample_rate=SAMPLE_RATE)[: int(MAX_SECONDS * SAMPLE_RATE)]
    noise = load_audio(job.noise, sample_rate=SAMPLE_RATE)
    rng = random.Random(job.seed)
    noise = noise.repeat(clean.shape[0] // noise.shape[0] + 2)
    start = rng.randrange(noise.shape[0] - clean.shape[0])
    noisy, clean = mix_at_snr(clean, noise[start:start + clean.shape[0]], job.snr)
    save_audio(job.clean_dir / f"{job.name}.wav", clean, SAMPLE_RATE)
    save_audio(job.noisy_dir / f"{job.name}.wav", noisy, SAMPLE_RATE)
    return clean.shape[0] / SAMPLE_RATE


def build_denoise(out_dir: str | Path, *, train_clips: int = 1200, test_clips: int = 200, seed: int = 0,
                  workers: int = 2, test_fraction: float = 0.15, extra_noise_dir: str | Path | None = None) -> dict:
    """Build the corpus into an empty `out_dir`; returns the info dict also written to `info.json`.

    `test_fraction` of the game levels (whole levels, both languages) give the test utterances.
    """
    require({**TTS_TOOLS, str(WORDNET / "data.noun"): "wordnet-base",
             str(FILLETS / "city" / "cs"): "fillets-ng-data-cs", str(FILLETS / "city" / "nl"): "fillets-ng-data-nl",
             str(WESNOTH_AMBIENT): "wesnoth-1.16-data"})
    out = prepare_out_dir(Path(out_dir))
    start = time.perf_counter()
    rng = random.Random(seed)
    groups = fillets_utterances()
    levels = sorted({g.split("/")[1] for g in groups})
    rng.shuffle(levels)
    test_levels = set(levels[: max(1, round(test_fraction * len(levels)))])
    pools = {"train": [], "test": []}
    for group, files in sorted(groups.items()):
        pools["test" if group.split("/")[1] in test_levels else "train"].extend(files)
    wanted = {"train": train_clips, "test": test_clips}
    for split, pool in pools.items():
        if len(pool) < wanted[split]:
            raise DatasetError(f"{FILLETS}: only {len(pool)} {split} utterances available; ask for fewer")
    noise_jobs = _noise_jobs(out / "noise", seed=seed, extra_noise_dir=extra_noise_dir)
    parallel_map(_make_noise, noise_jobs["train"] + noise_jobs["test"], workers=workers,
                 description="denoise: noise")
    pair_jobs, logs = [], {}
    for split in ("train", "test"):
        clean_dir, noisy_dir = (out / f for f in FOLDERS[split])
        chosen = sorted(rng.sample(pools[split], wanted[split]))
        logs[split] = []
        for k, path in enumerate(chosen):
            lang, level = path.parent.name, path.parent.parent.name
            name = f"{lang}_{level}_{path.stem}"
            noise = rng.choice(noise_jobs[split]).out
            snr = round(rng.uniform(*SNR_RANGE), 1)
            pair_jobs.append(_PairJob(path, noise, name, snr, seed * 100000 + k, clean_dir, noisy_dir))
            logs[split].append(f"{name} {noise.stem} {snr}\n")
    seconds = parallel_map(_make_pair, pair_jobs, workers=workers, description="denoise: pairs")
    (out / "log_trainset.txt").write_text("".join(logs["train"]))
    (out / "log_testset.txt").write_text("".join(logs["test"]))
    hours = {"train": sum(seconds[:train_clips]) / 3600, "test": sum(seconds[train_clips:]) / 3600}
    info = {
        "corpus": "VoiceBank+DEMAND layout (real speech, real and synthetic noise)", "builder": "denoise",
        "layout": "voicebank_demand", "seed": seed, "sample_rate": SAMPLE_RATE, "snr_db": list(SNR_RANGE),
        "test_levels": sorted(test_levels),
        "noise_files": {s: [j.out.name for j in js] for s, js in noise_jobs.items()},
        "splits": {s: {"clips": wanted[s], "hours": hours[s]} for s in ("train", "test")},
        "clips": train_clips + test_clips, "hours": sum(hours.values()),
        "build_seconds": round(time.perf_counter() - start, 1),
        "sources": [
            {"name": "Fish Fillets NG dubbed dialogue (fillets-ng-data-cs, fillets-ng-data-nl)", "licence": "GPL-2+"},
            {"name": "Battle for Wesnoth ambient loops (wesnoth-1.16-data)", "licence": "GPL-2+"},
            {"name": "babble: espeak-ng, flite, festival voices reading WordNet sentences",
             "licence": "GPL-3+ / BSD-like / WordNet licence"},
            {"name": "coloured noise generated from the seed", "licence": "n/a"},
        ] + ([{"name": f"extra noise from {extra_noise_dir}", "licence": "see its package"}]
             if extra_noise_dir else []),
    }
    write_info(out, info)
    return info

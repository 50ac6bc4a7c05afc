"""`centaurus data kws`: a Speech Commands v2 layout spoken by offline TTS voices.

Each speaker says the 35 words `repeats` times; every clip is 1 s at 16 kHz with the word at a random offset.
Validation and test lists hold whole speakers (speaker-disjoint), and `_background_noise_/` holds coloured
noise plus Wesnoth's ambient loops when they are installed.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from centaurus.audio import load_audio, save_audio
from centaurus.data.builders.common import (
    SAMPLE_RATE,
    TTS_TOOLS,
    Voice,
    coloured_noise,
    parallel_map,
    pick_voices,
    prepare_out_dir,
    require,
    synthesize,
    write_info,
)
from centaurus.data.speech_commands import BACKGROUND, CLIP_SAMPLES, SC35_WORDS

WESNOTH_AMBIENT = Path("/usr/share/games/wesnoth/1.16/data/core/sounds/ambient")
# Words longer than this are sped up so that the 1 s clip keeps a little silence around them.
MAX_WORD = int(0.95 * CLIP_SAMPLES)


@dataclass(frozen=True)
class _SpeakerJob:
    voice: Voice
    words: tuple[str, ...]
    repeats: int
    out_dir: Path
    seed: int


def _fit_word(word: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """Place a (L,) word in a (16000,) clip at a random offset, resampling it shorter if it does not fit."""
    if word.shape[0] > MAX_WORD:
        word = torch.nn.functional.interpolate(word[None, None], size=MAX_WORD, mode="linear")[0, 0]
    clip = torch.zeros(CLIP_SAMPLES)
    start = rng.randrange(CLIP_SAMPLES - word.shape[0] + 1)
    clip[start:start + word.shape[0]] = word
    return clip


def _speak(job: _SpeakerJob) -> int:
    """Write `<word>/<speaker>_nohash_<n>.wav` for every word and repeat of one speaker; returns the clip count."""
    rng = random.Random(f"{job.seed}-{job.voice.speaker_id}")
    texts = [w for w in job.words for _ in range(job.repeats)]
    for k, (text, wav) in enumerate(zip(texts, synthesize(job.voice, texts))):
        wav = 0.9 * wav / wav.abs().max().clamp_min(1e-4) * rng.uniform(0.3, 1.0)
        name = f"{job.voice.speaker_id}_nohash_{k % job.repeats}.wav"
        save_audio(job.out_dir / text / name, _fit_word(wav, rng), SAMPLE_RATE)
    return len(texts)


def _background(out_dir: Path, seed: int) -> list[str]:
    """Fill `_background_noise_/` with 60 s of white, pink and brown noise and the Wesnoth ambient loops."""
    folder = out_dir / BACKGROUND
    rng = np.random.default_rng(seed)
    names = []
    for name, exponent in (("white_noise", 0.0), ("pink_noise", 1.0), ("brown_noise", 2.0)):
        save_audio(folder / f"{name}.wav", 0.1 * coloured_noise(60 * SAMPLE_RATE, exponent=exponent, rng=rng),
                   SAMPLE_RATE)
        names.append(f"{name}.wav")
    for ogg in sorted(WESNOTH_AMBIENT.glob("*.ogg")):
        save_audio(folder / f"wesnoth_{ogg.stem}.wav", load_audio(ogg, sample_rate=SAMPLE_RATE), SAMPLE_RATE)
        names.append(f"wesnoth_{ogg.stem}.wav")
    return names


def _split_speakers(voices: list[Voice], *, seed: int, held_out: float) -> dict[str, list[Voice]]:
    """Speaker-disjoint split: `held_out` of the speakers (at least one) each for validation and test."""
    order = sorted(voices, key=lambda v: v.speaker_id)
    random.Random(seed).shuffle(order)
    n = max(1, round(held_out * len(order)))
    return {"validation": order[:n], "test": order[n:2 * n], "train": order[2 * n:]}


def build_kws(out_dir: str | Path, *, speakers: int = 80, repeats: int = 1, seed: int = 0, workers: int = 2,
              held_out: float = 0.1, words: tuple[str, ...] = SC35_WORDS) -> dict:
    """Build the corpus into an empty `out_dir`; returns the info dict also written to `info.json`."""
    require(TTS_TOOLS)
    if speakers < 3:
        raise ValueError("kws needs at least 3 speakers (train, validation and test are speaker-disjoint)")
    out = prepare_out_dir(Path(out_dir))
    start = time.perf_counter()
    voices = pick_voices(speakers, seed=seed)
    jobs = [_SpeakerJob(v, tuple(words), repeats, out, seed) for v in voices]
    parallel_map(_speak, jobs, workers=workers, description="kws: speakers")
    splits = _split_speakers(voices, seed=seed, held_out=held_out)
    for split, listing in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        ids = {v.speaker_id for v in splits[split]}
        rel = sorted(f"{p.parent.name}/{p.name}" for p in out.glob("*/*_nohash_*.wav") if p.name[:8] in ids)
        (out / listing).write_text("".join(f"{r}\n" for r in rel))
    noise = _background(out, seed)
    counts = {s: len(v) * len(words) * repeats for s, v in splits.items()}
    info = {
        "corpus": "Speech Commands v2 layout (synthetic)", "builder": "kws", "layout": "speech_commands_v2",
        "seed": seed, "sample_rate": SAMPLE_RATE, "words": list(words), "repeats": repeats,
        "speakers": {s: sorted(v.speaker_id for v in vs) for s, vs in splits.items()},
        "voices": {v.speaker_id: f"{v.engine}:{v.name} pitch={v.pitch} tempo={v.tempo}" for v in voices},
        "background_noise": noise,
        "splits": {s: {"clips": c, "hours": c / 3600} for s, c in counts.items()},
        "clips": sum(counts.values()), "hours": sum(counts.values()) / 3600,
        "build_seconds": round(time.perf_counter() - start, 1),
        "sources": [
            {"name": "espeak-ng", "licence": "GPL-3+"},
            {"name": "flite (kal, kal16, awb, rms, slt)", "licence": "BSD-like (CMU)"},
            {"name": "festival + festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts",
             "licence": "MIT-like / free (see /usr/share/doc)"},
            {"name": "wesnoth-1.16-data ambient loops (if installed)", "licence": "GPL-2+"},
        ],
    }
    write_info(out, info)
    return info

"""The `noise-generated` pool: coloured noise, mains hum, clicks, fans, and babble of real speakers.

Babble is summed speech of 3-7 different real speakers from the speech pools already built in the same pools
folder, so build the real speech pools first (`centaurus data pools OUT` orders them so). Babble of held-out
speakers forms the family "babble-heldout", which `split.py` keeps for validation; babble of training speakers
is the family "babble". Without speech pools the pool is built without babble, and says so.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from centaurus.audio import SAMPLE_RATE, load_audio, save_audio
from centaurus.data.builders.common import coloured_noise, parallel_map
from centaurus.data.pools.convert import BuildContext
from centaurus.data.pools.manifest import MANIFEST, PoolClip
from centaurus.data.pools.split import RULES, training_clips, validation_clips

SECONDS = 30
BABBLE_SECONDS = 20
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0}
LICENCE = "CC0-1.0"  # made here from seeds; babble inherits its speech clips' licences (kept in `source`)


@dataclass(frozen=True)
class _Job:
    family: str
    group: str
    index: int
    seed: int
    out: Path
    talkers: tuple[tuple[str, ...], ...] = ()  # babble: the clip files of each talker


def _hum(rng: np.random.Generator, mains: float) -> np.ndarray:
    """Mains hum: the fundamental and odd/even harmonics with decaying random levels, slow drift, a little hiss."""
    t = np.arange(SECONDS * SAMPLE_RATE) / SAMPLE_RATE
    f0 = mains * (1 + rng.uniform(-0.002, 0.002))
    x = np.zeros_like(t)
    for k in range(1, 12):
        level = rng.uniform(0.2, 1.0) / k ** rng.uniform(0.5, 1.5)
        x += level * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    x *= 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t)
    return x + 0.01 * rng.standard_normal(t.shape[0])


def _clicks(rng: np.random.Generator) -> np.ndarray:
    """Clicks and impulses: a Poisson train of single-sample spikes and short decaying ringing bursts."""
    n = SECONDS * SAMPLE_RATE
    x = 0.002 * rng.standard_normal(n)
    rate = rng.uniform(0.5, 8.0)  # events per second
    for at in np.cumsum(rng.exponential(1 / rate, size=int(rate * SECONDS * 2))):
        i = int(at * SAMPLE_RATE)
        if i >= n:
            break
        length = int(rng.uniform(0.0005, 0.03) * SAMPLE_RATE) + 1
        decay = np.exp(-np.arange(length) / max(1.0, length / 5))
        ring = np.sin(2 * np.pi * rng.uniform(500, 6000) * np.arange(length) / SAMPLE_RATE) if rng.random() < .5 \
            else rng.standard_normal(length)
        burst = rng.uniform(0.1, 1.0) * rng.choice((-1, 1)) * decay * ring
        x[i: i + length] += burst[: n - i]
    return x


def _fan(rng: np.random.Generator) -> np.ndarray:
    """A fan: broadband noise low-passed at a random corner, plus the blade-pass tone and its harmonics."""
    n = SECONDS * SAMPLE_RATE
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    corner = rng.uniform(300, 3000)
    x = np.fft.irfft(spectrum / np.sqrt(1 + (freqs / corner) ** rng.uniform(2, 4)), n=n)
    x /= np.sqrt(np.mean(x ** 2))
    t = np.arange(n) / SAMPLE_RATE
    blade = rng.uniform(40, 400)
    for k in range(1, 6):
        x += rng.uniform(0.05, 0.6) / k * np.sin(2 * np.pi * k * blade * (1 + rng.uniform(-.003, .003)) * t
                                                 + rng.uniform(0, 2 * np.pi))
    return x


def _babble(job: _Job) -> np.ndarray:
    n = BABBLE_SECONDS * SAMPLE_RATE
    mix = torch.zeros(n)
    rng = random.Random(job.seed)
    for files in job.talkers:
        parts, total = [], 0
        for path in rng.sample(list(files), len(files)):
            wav = load_audio(path, sample_rate=SAMPLE_RATE)
            parts += [wav, torch.zeros(int(rng.uniform(0.05, 0.4) * SAMPLE_RATE))]
            total += wav.shape[0] + parts[-1].shape[0]
            if total >= 2 * n:
                break
        talk = torch.cat(parts)
        talk = talk.repeat(2 * n // talk.shape[0] + 1)
        start = rng.randrange(talk.shape[0] - n)
        talk = talk[start: start + n]
        mix += talk / talk.pow(2).mean().sqrt().clamp_min(1e-6)
    return (mix / len(job.talkers) ** 0.5).numpy()


def _make(job: _Job) -> PoolClip:
    rng = np.random.default_rng(job.seed)
    if job.family == "colour":
        x = coloured_noise(SECONDS * SAMPLE_RATE, exponent=COLOURS[job.group], rng=rng).numpy()
    elif job.family == "hum":
        x = _hum(rng, 50.0 if job.group == "hum50" else 60.0)
    elif job.family == "clicks":
        x = _clicks(rng)
    elif job.family == "fan":
        x = _fan(rng)
    else:
        x = _babble(job)
    x = 0.5 * x / max(1e-6, float(np.abs(x).max()))
    rel = f"{job.family}/{job.group}-{job.index:03d}.wav"
    save_audio(job.out / rel, torch.from_numpy(x.astype(np.float32)), SAMPLE_RATE)
    licence = LICENCE if not job.talkers else "mixed: the licences of its speech pools' packages"
    return PoolClip(path=rel, source="generated", licence=licence, group=job.group, language="",
                    duration=x.shape[0] / SAMPLE_RATE, kind="noise", family=job.family)


def _speakers(pools_dir: Path | None, held_out: bool) -> dict[str, list[str]]:
    """Clip files per real speaker (pool:group) of the real speech pools in `pools_dir`; clips >= 0.5 s."""
    found: dict[str, list[str]] = {}
    if pools_dir is None:
        return found
    real_speech = [name for name in RULES if name.startswith("speech-")]  # never TTS pools
    for pool in sorted(p for p in Path(pools_dir).glob("speech-*") if p.name in real_speech
                       and (p / MANIFEST).is_file()):
        clips = validation_clips(pool) if held_out else training_clips(pool)
        for c in clips:
            if c.duration >= 0.5:
                found.setdefault(f"{pool.name}:{c.group}", []).append(str(pool / c.path))
    return found


def build_generated(out: Path, ctx: BuildContext) -> list[PoolClip]:
    """Write the generated noises into `out`; returns their clips. Seeded by `ctx.seed`."""
    per_kind, babble_clips = ctx.generated_per_kind, 3 * ctx.generated_per_kind
    jobs = []
    kinds = [("colour", c) for c in COLOURS] + [("hum", "hum50"), ("hum", "hum60"), ("clicks", "clicks"),
                                                  ("fan", "fan")]
    for k, (family, group) in enumerate(kinds):
        for i in range(per_kind * (2 if family == "fan" else 1)):
            jobs.append(_Job(family, group, i, ctx.seed * 100003 + k * 1000 + i, out))
    notes = []
    for family, held_out in (("babble", False), ("babble-heldout", True)):
        speakers = _speakers(ctx.pools_dir, held_out)
        if len(speakers) < 3:
            notes.append(f"noise-generated: no {family} (needs >= 3 {'held-out' if held_out else 'training'} "
                         "speakers in real speech pools built first in the same folder)")
            continue
        rng = random.Random(f"{family}-{ctx.seed}")
        names = sorted(speakers)
        for i in range(babble_clips):
            chosen = rng.sample(names, min(len(names), rng.randint(3, 7)))
            jobs.append(_Job(family, family, i, rng.randrange(2 ** 31), out,
                             tuple(tuple(speakers[s]) for s in chosen)))
    ctx.notes.extend(notes)
    return parallel_map(_make, jobs, workers=ctx.workers, description="noise-generated")

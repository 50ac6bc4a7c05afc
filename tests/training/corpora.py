"""Tiny learnable corpora in the official layouts, written in a second or two: tones stand in for speech.

KWS: each word is a tone burst at its own pitch. Denoising: harmonic tones in white noise. ASR: each letter
is a tone at its own pitch, so a transcript is a sequence of short notes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
KWS_WORDS = {"yes": 300.0, "no": 900.0, "up": 2400.0}
ASR_LETTERS = {"a": 400.0, "b": 1000.0, "c": 2200.0}


def _tone(freq: float, n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / RATE
    return np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) * np.hanning(n)


def _write(path: Path, wav: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wav.astype(np.float32), RATE)


def make_kws(root: Path, *, train: int = 8, held_out: int = 4, seed: int = 0) -> Path:
    """Speech Commands v2 layout with three words; speakers s0.. train, then validation, then test."""
    rng = np.random.default_rng(seed)
    lists = {"validation": [], "test": []}
    for word, freq in KWS_WORDS.items():
        for s in range(train + 2 * held_out):
            wav = rng.standard_normal(RATE) * 0.02
            n = int(rng.integers(3000, 6000))
            start = int(rng.integers(0, RATE - n))
            wav[start:start + n] += rng.uniform(0.2, 0.5) * _tone(freq * rng.uniform(0.95, 1.05), n, rng)
            rel = f"{word}/s{s}_nohash_0.wav"
            _write(root / rel, wav)
            if s >= train:
                lists["validation" if s < train + held_out else "test"].append(rel)
    (root / "validation_list.txt").write_text("".join(f"{r}\n" for r in lists["validation"]))
    (root / "testing_list.txt").write_text("".join(f"{r}\n" for r in lists["test"]))
    _write(root / "_background_noise_" / "white.wav", rng.standard_normal(3 * RATE) * 0.05)
    return root


def make_denoise(root: Path, *, train: int = 12, test: int = 3, samples: int = 8192, seed: int = 0) -> Path:
    """VoiceBank+DEMAND layout at 16 kHz: clean harmonic notes, noisy = clean + white noise at ~5 dB SNR, and
    the logs that name each file's noise."""
    rng = np.random.default_rng(seed)
    for split, count, (clean_dir, noisy_dir) in (
            ("train", train, ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav")),
            ("test", test, ("clean_testset_wav", "noisy_testset_wav"))):
        names = [f"p{i % 4}_{split}{i:03d}" for i in range(count)]
        for name in names:
            f0 = rng.uniform(150, 300)
            clean = sum(_tone(f0 * h, samples, rng) / h for h in (1, 2, 3)) * 0.3
            noise = rng.standard_normal(samples)
            noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** 0.5)
            _write(root / clean_dir / f"{name}.wav", clean)
            _write(root / noisy_dir / f"{name}.wav", clean + noise)
        (root / f"log_{split}set.txt").write_text("".join(f"{name} white 5.0\n" for name in names))
    return root


def _utterance(text: str, rng: np.random.Generator) -> np.ndarray:
    notes = [np.zeros(int(rng.integers(800, 2400)))]
    for ch in text:
        if ch == " ":
            notes.append(np.zeros(2400))
        else:
            n = int(rng.integers(2000, 2800))
            notes += [0.4 * _tone(ASR_LETTERS[ch], n, rng), np.zeros(400)]
    notes.append(np.zeros(1600))
    wav = np.concatenate(notes)
    return wav + rng.standard_normal(wav.shape[0]) * 0.01


def make_asr(root: Path, *, per_split: dict[str, int] | None = None, seed: int = 0) -> Path:
    """LibriSpeech layout: transcripts are 1-3 words over the letters a, b, c."""
    rng = np.random.default_rng(seed)
    per_split = per_split or {"train-clean-100": 48, "dev-clean": 8, "test-clean": 8}
    letters = list(ASR_LETTERS)
    for k, (split, count) in enumerate(per_split.items()):
        speaker, chapter = str(100 + k), "1"
        folder = root / split / speaker / chapter
        lines = []
        for i in range(count):
            words = ["".join(rng.choice(letters, int(rng.integers(1, 4)))) for _ in range(int(rng.integers(1, 4)))]
            text = " ".join(words)
            utt = f"{speaker}-{chapter}-{i:04d}"
            _write(folder / f"{utt}.flac", _utterance(text, rng))
            lines.append(f"{utt} {text.upper()}\n")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("".join(lines))
    return root

"""Rooms for the mixing engine: a bank of shoebox room impulse responses (pyroomacoustics image sources, through
`augment.simulate_rir`), simulated once and cached as an `.npz` keyed by its parameters, and the convolution
that keeps the reverberant speech aligned with its dry or early-reverberant target (or itself, as the target).

The convolution is a full linear one (scipy's `fftconvolve`) read from the RIR's strongest tap (the direct path)
on, so the output stays aligned with the dry input. scipy's FFT runs on one thread unless told otherwise, so an
example is bit-identical in a data worker (one thread) and in the trainer (torch's FFT, like speechbrain's
`reverberate` that uses it, rounds differently for some lengths as the thread count changes). The early target
convolves with the same RIR cut `early_ms` after that tap, so both share the alignment by construction.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from centaurus.atomic import replacing
from centaurus.data.augment import simulate_rir
from centaurus.errors import DatasetError

ROOM_M = ((3.0, 10.0), (3.0, 8.0), (2.4, 4.0))  # shoebox width, depth, height ranges
MARGIN_M = 0.3  # source and microphone stay this far from every wall


@dataclass(frozen=True)
class RoomBank:
    """RIRs (peak-normalised, float32) with the RT60 asked of each room and its source-microphone distance."""

    rirs: list[np.ndarray]
    rt60: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return len(self.rirs)


def _room(rng: np.random.Generator, rt60: float, distance: float) -> tuple:
    """A room, a microphone and a source `distance` m from it (shortened where the room is too small)."""
    room = tuple(rng.uniform(lo, hi) for lo, hi in ROOM_M)
    low, high = np.full(3, MARGIN_M), np.array(room) - MARGIN_M
    mic = rng.uniform(low, high)
    for _ in range(100):
        direction = rng.standard_normal(3)
        source = mic + distance * direction / np.linalg.norm(direction)
        if np.all(source >= low) and np.all(source <= high):
            return room, tuple(source), tuple(mic)
        distance *= 0.95
    return room, tuple(rng.uniform(low, high)), tuple(mic)


def build_bank(count: int, *, rt60_s: tuple[float, float], distance_m: tuple[float, float], seed: int,
               sample_rate: int) -> RoomBank:
    rng = np.random.default_rng(seed)
    rirs, rt60s, distances = [], [], []
    while len(rirs) < count:
        rt60, distance = rng.uniform(*rt60_s), rng.uniform(*distance_m)
        room, source, mic = _room(rng, rt60, distance)
        try:
            rir = simulate_rir(rt60=rt60, room=room, source=source, mic=mic, sample_rate=sample_rate)
        except ValueError:  # pyroomacoustics: this RT60 cannot be reached in this room (absorption > 1)
            continue
        rirs.append(rir.numpy())
        rt60s.append(rt60)
        distances.append(float(np.linalg.norm(np.subtract(source, mic))))
    return RoomBank(rirs, np.array(rt60s), np.array(distances))


def load_bank(cache_dir: str | Path, count: int, *, rt60_s: tuple[float, float], distance_m: tuple[float, float],
              seed: int, sample_rate: int) -> RoomBank:
    """The bank for these parameters from `cache_dir`, simulated and written there (atomically) on first use."""
    params = {"count": count, "rt60_s": list(rt60_s), "distance_m": list(distance_m), "seed": seed,
              "sample_rate": sample_rate, "room_m": ROOM_M, "margin_m": MARGIN_M}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"rirs-{key}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                lengths = z["lengths"]
                flat = np.split(z["taps"], np.cumsum(lengths)[:-1])
                return RoomBank(list(flat), z["rt60"], z["distance"])
        except (OSError, ValueError, KeyError) as err:
            raise DatasetError(f"{path}: unreadable RIR cache ({err}); delete it to simulate the rooms again") from None
    bank = build_bank(count, rt60_s=rt60_s, distance_m=distance_m, seed=seed, sample_rate=sample_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, taps=np.concatenate(bank.rirs), lengths=np.array([len(r) for r in bank.rirs]),
                 rt60=bank.rt60, distance=bank.distance)
    return bank


def early_part(rir: torch.Tensor, *, early_ms: float, sample_rate: int) -> torch.Tensor:
    """The RIR up to `early_ms` after its strongest tap, the last 5 ms faded out (no step in the target)."""
    end = min(rir.shape[0], int(rir.abs().argmax()) + int(early_ms * sample_rate / 1000))
    fade = min(end, int(0.005 * sample_rate))
    early = rir[:end].clone()
    early[end - fade:] *= torch.linspace(1, 0, fade)
    return early


def reverberate_aligned(dry: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """(L,) convolved with `rir`, aligned on its strongest tap and cut to L (no circular wrap, no rescaling)."""
    peak = int(rir.abs().argmax())
    from scipy.signal import fftconvolve  # scipy.signal: 70 MB, for training only
    wet = fftconvolve(dry.numpy(), rir.numpy().astype(dry.numpy().dtype))[peak: peak + dry.shape[0]]
    return torch.from_numpy(np.ascontiguousarray(wet))

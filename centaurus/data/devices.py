"""Devices and channels for the mixing engine: band-limiting, codecs, EQ, clipping, DC offset, bit depth, level.

Codecs run in-process through libsndfile (`soundfile`, the project's audio I/O): GSM 06.10 and mu-law at 8 kHz
(telephone channels), MP3 and Opus at 16 kHz, each encoded into memory and decoded back. The installed sox has
no Opus and ffmpeg is not installed; a subprocess per example would also cost more than the encoding itself on
two cores. libsndfile decodes gaplessly (MP3 encoder delay, Opus pre-skip), and `probe_codecs` measures each
codec's remaining delay by cross-correlation once, so every decoded signal is shifted back onto the input and
keeps its length. A codec this libsndfile lacks is skipped with one warning.

Library parts: EQ is torchaudio's biquads (shelving tilt, peaking resonances), notches speechbrain's `DropFreq`,
bit depth speechbrain's `DropBitResolution`, resampling soxr (`centaurus.audio.resample`, aligned). Clipping is
written here: speechbrain's `DoClip` rescales the clipped signal by the inverse of its threshold, which would
change the speech level against the target.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from centaurus.audio import resample

NARROWBAND_RATE = 8000


@dataclass(frozen=True)
class Codec:
    name: str
    format: str
    subtype: str
    sample_rate: int
    lossy_level: bool  # takes a compression level in [0, 1) (1 - bitrate); libsndfile refuses MP3 at 1.0


CODECS = {c.name: c for c in (
    Codec("gsm", "WAV", "GSM610", NARROWBAND_RATE, False),
    Codec("mulaw", "WAV", "ULAW", NARROWBAND_RATE, False),
    Codec("mp3", "MP3", "MPEG_LAYER_III", 16000, True),
    Codec("opus", "OGG", "OPUS", 16000, True),
)}
MAX_DELAY = 4000  # samples searched either side when measuring a codec's delay


def _roundtrip(codec: Codec, wav: np.ndarray, level: float) -> np.ndarray:
    buffer = io.BytesIO()
    extra = {"compression_level": level} if codec.lossy_level else {}
    sf.write(buffer, wav, codec.sample_rate, format=codec.format, subtype=codec.subtype, **extra)
    buffer.seek(0)
    out, _ = sf.read(buffer, dtype="float32")
    return out


def _fit(wav: np.ndarray, length: int, delay: int) -> np.ndarray:
    """`wav` advanced by `delay` samples and cut or zero-padded to `length`."""
    wav = wav[delay:] if delay >= 0 else np.concatenate([np.zeros(-delay, wav.dtype), wav])
    return np.pad(wav[:length], (0, max(0, length - wav.shape[0])))


def measure_delay(reference: np.ndarray, decoded: np.ndarray) -> int:
    """The lag (samples) at which `decoded` best matches `reference`, within ±MAX_DELAY."""
    n = len(reference) + len(decoded)
    spectrum = np.fft.rfft(decoded, n) * np.conj(np.fft.rfft(reference, n))
    xcorr = np.fft.irfft(spectrum, n)
    lags = np.r_[0:MAX_DELAY + 1, -MAX_DELAY:0]
    return int(lags[np.argmax(xcorr[lags])])


def probe_codecs(names: list[str]) -> dict[str, int]:
    """{codec: delay in samples at its own rate} for the codecs of `names` this libsndfile can encode and
    decode; each one that fails is skipped with a warning."""
    rng = np.random.default_rng(0)
    delays = {}
    for name in names:
        codec = CODECS[name]
        probe = rng.standard_normal(codec.sample_rate).astype(np.float32) * 0.1
        try:
            decoded = _roundtrip(codec, probe, 0.9)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            warnings.warn(f"codec {name} ({codec.format}/{codec.subtype}) is not available in libsndfile "
                          f"{sf.__libsndfile_version__}: skipped ({err})", stacklevel=2)
            continue
        delays[name] = measure_delay(probe, decoded)
    return delays


def apply_codec(wav: torch.Tensor, name: str, *, delay: int, level: float, sample_rate: int) -> torch.Tensor:
    """(L,) through codec `name` and back, at `sample_rate`, delay-compensated and of length L. Samples beyond
    ±1 are clipped first (the codecs take PCM)."""
    codec = CODECS[name]
    narrow = resample(wav.clamp(-1, 1), sample_rate, codec.sample_rate).numpy()
    decoded = _fit(_roundtrip(codec, narrow, level), narrow.shape[0], delay)
    out = resample(torch.from_numpy(decoded), codec.sample_rate, sample_rate)
    return torch.nn.functional.pad(out[: wav.shape[0]], (0, max(0, wav.shape[0] - out.shape[0])))


def band_limit(wav: torch.Tensor, sample_rate: int, rate: int = NARROWBAND_RATE) -> torch.Tensor:
    """(L,) resampled to `rate` and back: telephone bandwidth, same length and alignment."""
    out = resample(resample(wav, sample_rate, rate), rate, sample_rate)
    return torch.nn.functional.pad(out[: wav.shape[0]], (0, max(0, wav.shape[0] - out.shape[0])))


@dataclass(frozen=True)
class Equaliser:
    """A microphone's colouring: a high-shelf tilt and peaking resonances (torchaudio biquads)."""

    tilt_db: float
    resonances: tuple[tuple[float, float, float], ...]  # (centre Hz, gain dB, Q)

    def __call__(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """(..., L) filtered along its last axis."""
        out = AF.treble_biquad(wav, sample_rate, self.tilt_db, central_freq=1500.0)
        for centre, gain, q in self.resonances:
            out = AF.equalizer_biquad(out, sample_rate, centre, gain, q)
        return out


def seeded(module: torch.nn.Module, wavs: torch.Tensor, seed: int) -> torch.Tensor:
    """Run a speechbrain augmentation (which draws from the global torch RNG) on (B, L) with its own seed,
    leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return module(wavs)


def drop_freq() -> torch.nn.Module:
    from speechbrain.augment.time_domain import DropFreq  # speechbrain loads with the engine, not every recipe
    return DropFreq(drop_freq_count_low=1, drop_freq_count_high=3)


BIT_DEPTHS = ("int8", "int16", "float16")


def drop_bits(wav: torch.Tensor, depth: str) -> torch.Tensor:
    """(L,) quantised to `depth` (one of BIT_DEPTHS) at its own peak and back to float32."""
    from speechbrain.augment.time_domain import DropBitResolution
    return DropBitResolution(depth)(wav[None])[0]


def hard_clip(wav: torch.Tensor, headroom_db: float) -> torch.Tensor:
    """Clip at `headroom_db` below the peak, the level otherwise unchanged (an overdriven input stage)."""
    limit = float(wav.abs().max()) * 10 ** (-headroom_db / 20)
    return wav.clamp(-limit, limit)

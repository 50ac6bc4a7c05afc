"""Audio I/O as torch tensors: read anything libsndfile reads into float32 mono at a target rate, write
atomically, stream blocks. A thin layer over the NumPy functions of `centaurus.audio.files`.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from centaurus.atomic import replacing
from centaurus.audio.files import (
    SAMPLE_RATE,
    WRITE_FORMATS,
    _check_finite,
    _decoder_chatter_kept_off_stderr,
    _fail,
    _libsndfile_reason,
    _to_mono,
    _undecodable,
    audio_info,
    iter_samples,
)


def resample(wav: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Resample a (L,) float32 signal from `orig_rate` to `new_rate` Hz with soxr (high quality)."""
    if orig_rate == new_rate:
        return wav
    out = soxr.resample(wav.numpy(), orig_rate, new_rate, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def load_audio(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read a whole file as a float32 mono tensor of shape (L,) at `sample_rate` Hz (stereo is averaged)."""
    info = audio_info(path)
    try:
        with _decoder_chatter_kept_off_stderr():
            data, _ = sf.read(str(info.path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _undecodable(info.path, f"corrupt audio data ({_libsndfile_reason(err)})", info.subtype) from None
    if data.shape[0] < info.frames:
        raise _fail(info.path, f"truncated: header says {info.frames} frames, only {data.shape[0]} decoded")
    _check_finite(info.path, data)
    return resample(torch.from_numpy(_to_mono(data).copy()), info.sample_rate, sample_rate)


def load_segment(path: str | os.PathLike, *, offset: int, frames: int, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read `frames` samples starting at sample `offset` (both counted at the file's native rate) as (L,) mono.

    Resampled to `sample_rate` after the cut, so short cuts from long files stay cheap.
    """
    info = audio_info(path)
    if offset < 0 or offset + frames > info.frames:
        raise _fail(info.path, f"segment [{offset}, {offset + frames}) lies outside its {info.frames} frames")
    try:
        with _decoder_chatter_kept_off_stderr():
            data, _ = sf.read(str(info.path), start=offset, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _undecodable(info.path, f"corrupt audio data ({_libsndfile_reason(err)})", info.subtype) from None
    _check_finite(info.path, data)
    return resample(torch.from_numpy(_to_mono(data).copy()), info.sample_rate, sample_rate)


def save_audio(path: str | os.PathLike, wav: torch.Tensor, sample_rate: int) -> None:
    """Write a (L,) or (C, L) float tensor at `sample_rate` Hz to .wav (16-bit PCM) or .flac, atomically.

    The data goes to a temporary file in the same folder, which is then renamed over `path`, so readers
    never see a half-written file.
    """
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise _fail(path, f"cannot write {path.suffix!r}; use one of {sorted(WRITE_FORMATS)}")
    data = wav.detach().to(torch.float32).cpu().numpy()
    if not np.isfinite(data).all():
        raise _fail(path, "refusing to write NaN or Inf samples")
    data = data.T if data.ndim == 2 else data
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        sf.write(str(tmp), np.clip(data, -1.0, 1.0), sample_rate, format=fmt, subtype="PCM_16")




def iter_blocks(path: str | os.PathLike, *, block_samples: int,
                sample_rate: int = SAMPLE_RATE) -> Iterator[torch.Tensor]:
    """`iter_samples` as tensors: float32 mono (block_samples,) blocks, the last one possibly shorter."""
    for block in iter_samples(path, block_samples=block_samples, sample_rate=sample_rate):
        yield torch.from_numpy(block)

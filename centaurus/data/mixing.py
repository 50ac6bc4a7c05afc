"""The dynamic mixing engine: every training example drawn afresh as speech x voice x room x noise x device.

Speech comes from weighted speech pools (or any list of clips the caller passes: KWS clips with labels, ASR
clips with text), noise from weighted noise pools, both restricted to the clips the pool split marks for
training (`centaurus.data.pools.split.training_clips`), so held-apart speakers and noise files never appear.

It is a map-style dataset keyed by (epoch, index), not an `IterableDataset`: the trainer already plans every
epoch as batches of such keys, shards them over DataLoader workers and DDP ranks, and resumes mid-epoch by
skipping planned batches. Example (epoch, index) draws all its randomness from a generator seeded by
(seed, epoch, index), so it is new every epoch, independent of the worker that makes it, and bit-identical
after a resume. `len()` is a virtual epoch (`examples_per_epoch`).

Order: speech (clips of one group end to end, with pauses) -> voice (speed, pitch, vocal-tract length,
formants) -> room (RIR from a cached bank; the target is the dry, early-reverberant or reverberant speech,
aligned) -> noise (1-3 sources, SNR on active speech, or none) -> device (see `devices`: band-limit, EQ, level,
clipping, DC, bit depth, codec). Linear channel effects (band-limit, EQ, notches, level) apply to the target
too, so a denoiser is not asked to invent a band or undo a microphone; the additive and non-linear ones do not.

Library parts: speed is speechbrain's `SpeedPerturb`, pitch librosa's `effects.pitch_shift`, reverberation
scipy's `fftconvolve` (see `rooms`). Written here: noise mixing (speechbrain's `AddNoise` draws noise
from a CSV through its own loader, which cannot honour the pools' split or a per-example generator, and sets
the SNR on whole-signal amplitude, not on active speech), and the vocal-tract-length and formant warps, which
neither library has: both warp the cepstrally smoothed spectral envelope of the STFT, keeping the pitch.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from centaurus.audio import SAMPLE_RATE, load_audio, load_segment
from centaurus.data import devices
from centaurus.data.pools.split import training_clips
from centaurus.data.rooms import early_part, load_bank, reverberate_aligned
from centaurus.errors import DatasetError

FRAME_S = 0.02  # frame of the active-speech measure


class _Strict(BaseModel):
    """The recipes' rules (as `centaurus.tasks.base.Strict`; the data layer does not import tasks)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _ordered(value: list[float]) -> list[float]:
    if value[0] > value[1]:
        raise ValueError(f"a range is [low, high], got {value}")
    return value


Range = Annotated[list[float], Field(min_length=2, max_length=2), AfterValidator(_ordered)]
def _below_one(value: list[float]) -> list[float]:
    if not (0 <= value[0] and value[1] < 1):
        raise ValueError("codec levels lie in [0, 1)")
    return value


Prob = Annotated[float, Field(ge=0, le=1)]


class PoolWeight(_Strict):
    pool: str  # folder under `pool_root` (or an absolute path)
    weight: float = Field(1.0, gt=0)


class RoomSpec(_Strict):
    prob: Prob = 0.7  # speech through a room
    noise_prob: Prob = 0.5  # the noise through a room of its own
    rt60_s: Range = [0.1, 1.0]
    distance_m: Range = [0.3, 3.0]  # source to microphone
    bank: int = Field(200, ge=1)  # rooms simulated once, then cached
    seed: int = 0  # the bank's seed (independent of the training seed, so the cache serves every run)
    target: Literal["early", "dry", "reverberant"] = "early"  # reverberant: the room stays, only noise goes
    early_ms: float = Field(50.0, ge=0)  # early target: the RIR up to this long after its direct path
    cache_dir: str = "~/.cache/centaurus/rooms"


class NoiseSpec(_Strict):
    none_prob: Prob = 0.1  # examples with no noise at all (a denoiser must leave clean speech alone)
    sources: Annotated[list[int], Field(min_length=2, max_length=2)] = [1, 3]
    snr_db: Range = [-5.0, 25.0]  # on active speech
    source_db: float = Field(6.0, ge=0)  # each source's level, ± this around the others
    active_floor_db: float = Field(30.0, gt=0)  # frames this far below the loudest are not active speech


class DeviceSpec(_Strict):
    narrowband_prob: Prob = 0.15  # 8 kHz telephone band
    codec_prob: Prob = 0.3
    codecs: list[Literal["gsm", "mulaw", "mp3", "opus"]] = ["gsm", "mulaw", "mp3", "opus"]
    codec_level: Annotated[Range, AfterValidator(_below_one)] = [0.7, 0.99]  # higher: lower bitrate
    eq_prob: Prob = 0.5
    tilt_db: float = Field(6.0, ge=0)  # high-shelf gain within ± this
    resonances: Annotated[list[int], Field(min_length=2, max_length=2)] = [0, 2]
    resonance_db: Range = [3.0, 12.0]
    resonance_q: Range = [1.0, 8.0]
    notch_prob: Prob = 0.0  # speechbrain DropFreq: 1-3 narrow notches
    clip_prob: Prob = 0.1
    clip_db: Range = [1.0, 12.0]  # clip this far below the peak
    dc_prob: Prob = 0.1
    dc: float = Field(0.02, ge=0)  # offset within ± this (full scale 1)
    bits_prob: Prob = 0.05  # int8 / int16 / float16 resolution (speechbrain DropBitResolution)
    level_dbfs: Range = [-45.0, -3.0]  # peak level


class VoiceSpec(_Strict):
    speed_prob: Prob = 0.3
    speed: Range = [0.9, 1.1]  # tempo and pitch together (resampling), in steps of 1%
    pitch_prob: Prob = 0.3
    pitch_semitones: Range = [-3.0, 3.0]
    vtlp_prob: Prob = 0.2
    vtlp_alpha: Range = [0.9, 1.1]  # piecewise-linear envelope warp (Jaitly & Hinton), top band edge kept
    formant_prob: Prob = 0.2
    formant_ratio: Range = [0.9, 1.1]  # every formant scaled by this


class EngineSpec(_Strict):
    """The `engine` recipe section: where the pools are, how to weigh them, and each stage's ranges."""

    pool_root: str  # pools named by a relative path live under it
    speech_pools: list[PoolWeight] = Field(min_length=1)
    noise_pools: list[PoolWeight] = Field(min_length=1)
    examples_per_epoch: int = Field(4000, ge=1)
    fill: bool = True  # speech fills the segment (clips of one group end to end); false: one clip placed in it
    room: RoomSpec = RoomSpec()
    noise: NoiseSpec = NoiseSpec()
    device: DeviceSpec = DeviceSpec()
    voice: VoiceSpec = VoiceSpec()


@dataclass(frozen=True)
class Clip:
    path: str
    id: str  # "<pool>/<path in pool>": what an example records
    group: str  # "<pool>/<group>": speaker, voice or noise family
    frames: int
    text: str = ""
    label: int | None = None


@dataclass(frozen=True)
class ClipSet:
    """A weighted set of clips to draw from: one pool, or clips a task supplies (KWS words, ASR utterances)."""

    name: str
    weight: float
    clips: tuple[Clip, ...]


@dataclass
class Example:
    noisy: torch.Tensor  # (L,) the model's input
    target: torch.Tensor  # (L,) dry or early-reverberant speech, aligned with `noisy`, at its level
    speech_ids: tuple[str, ...]
    speech_groups: tuple[str, ...]
    noise_ids: tuple[str, ...]
    snr_db: float | None  # None: no noise
    room: int | None  # index in the RIR bank
    codec: str | None
    narrowband: bool
    text: str  # of the first speech clip
    label: int | None


def pool_clips(pool_root: str | Path, entry: PoolWeight, *, kind: str, where: str,
               sample_rate: int = SAMPLE_RATE) -> ClipSet:
    """The training clips of kind `kind` in one pool; a missing pool is one `DatasetError` line naming it."""
    folder = (Path(pool_root).expanduser() / entry.pool).absolute()
    if not folder.is_dir():
        raise DatasetError(f"{folder}: pool {entry.pool!r} ({where}) not found; build it with `centaurus data pools`")
    clips = tuple(Clip(str(folder / c.path), f"{entry.pool}/{c.path}", f"{entry.pool}/{c.group}",
                       c.frames(sample_rate), c.text)
                  for c in training_clips(folder) if c.kind == kind)
    if not clips:
        raise DatasetError(f"{folder}: pool {entry.pool!r} ({where}) has no {kind} clips for training")
    return ClipSet(entry.pool, entry.weight, clips)


def active_power(speech: torch.Tensor, *, floor_db: float, sample_rate: int) -> float:
    """Mean power of `speech` over its active frames: 20 ms frames within `floor_db` of the loudest; 0.0 for
    silence."""
    frame = int(FRAME_S * sample_rate)
    usable = speech.shape[0] // frame * frame
    energy = speech[:usable].reshape(-1, frame).pow(2).mean(1)
    if usable == 0 or float(energy.max()) <= 1e-12:
        return 0.0
    active = energy >= energy.max() * 10 ** (-floor_db / 10)
    return float(energy[active].mean())


def warp_envelope(wav: torch.Tensor, source_of, *, n_fft: int = 512, lifter: int = 40) -> torch.Tensor:
    """(L,) with its spectral envelope moved: the envelope at frequency f (0..1 of Nyquist) becomes the one at
    `source_of(f)`. The envelope is the STFT's log magnitude smoothed by keeping `lifter` cepstral
    coefficients (below the pitch period of voices up to 400 Hz); the fine structure (the pitch harmonics) stays
    where it was."""
    window = torch.hann_window(n_fft)
    spec = torch.stft(wav, n_fft, n_fft // 4, window=window, return_complex=True)
    cepstrum = torch.fft.irfft(spec.abs().clamp_min(1e-8).log(), n=n_fft, dim=0)
    cepstrum[lifter:n_fft - lifter + 1] = 0
    envelope = torch.fft.rfft(cepstrum, dim=0).real
    bins = envelope.shape[0]
    position = torch.from_numpy(np.clip(source_of(np.linspace(0, 1, bins)), 0, 1) * (bins - 1)).float()
    low = position.floor().long().clamp(max=bins - 2)
    frac = (position - low)[:, None]
    moved = envelope[low] * (1 - frac) + envelope[low + 1] * frac
    return torch.istft(spec * (moved - envelope).exp(), n_fft, n_fft // 4, window=window, length=wav.shape[0])


def vtlp_source(alpha: float, *, boundary: float = 0.6):
    """Inverse of the Jaitly-Hinton VTLP map: f -> alpha f up to a boundary, then linear to Nyquist."""
    knee = boundary * min(alpha, 1) / alpha
    grid = np.linspace(0, 1, 1025)
    forward = np.where(grid <= knee, alpha * grid, 1 - (1 - alpha * knee) / (1 - knee) * (1 - grid))
    return lambda f: np.interp(f, forward, grid)


class MixingEngine(torch.utils.data.Dataset):
    """Examples keyed by (epoch, index) (or a plain index: epoch 0). `speech` replaces the speech pools with
    clip sets the caller supplies (KWS or ASR clips carrying labels or text). `segment_samples` None: each
    example is one whole clip between short pauses, as long as the voice stage leaves it (ASR utterances,
    whose transcript a crop would break)."""

    def __init__(self, spec: EngineSpec, *, segment_samples: int | None, seed: int,
                 speech: list[ClipSet] | None = None, sample_rate: int = SAMPLE_RATE):
        self.spec, self.segment, self.seed, self.rate = spec, segment_samples, seed, sample_rate
        root = spec.pool_root
        self.speech = speech or [pool_clips(root, p, kind="speech", where="speech_pools", sample_rate=sample_rate)
                                 for p in spec.speech_pools]
        self.noise = [pool_clips(root, p, kind="noise", where="noise_pools", sample_rate=sample_rate)
                      for p in spec.noise_pools]
        self.by_group = [_groups(s.clips) for s in self.speech]
        room = spec.room
        self.rooms = None
        if room.prob > 0 or (room.noise_prob > 0 and spec.noise.none_prob < 1):
            self.rooms = load_bank(Path(room.cache_dir).expanduser(), room.bank, rt60_s=tuple(room.rt60_s),
                                   distance_m=tuple(room.distance_m), seed=room.seed, sample_rate=sample_rate)
        self.codec_delays = devices.probe_codecs(spec.device.codecs) if spec.device.codec_prob > 0 else {}
        from speechbrain.augment.time_domain import SpeedPerturb  # speechbrain and librosa load with the engine
        v = spec.voice
        self.speeds = SpeedPerturb(sample_rate, speeds=list(range(round(v.speed[0] * 100),
                                                                  round(v.speed[1] * 100) + 1)))
        self.drop_freq = devices.drop_freq()

    def __len__(self) -> int:
        return self.spec.examples_per_epoch

    def __getitem__(self, key: int | tuple[int, int]) -> Example:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        return self.example(epoch, index)

    # -- stages ------------------------------------------------------------------------------------------
    @staticmethod
    def _pick(rng: np.random.Generator, sets: list[ClipSet]) -> int:
        weights = np.cumsum([s.weight for s in sets])
        return min(int(np.searchsorted(weights, rng.random() * weights[-1], side="right")), len(sets) - 1)

    def _load(self, clip: Clip, rng: np.random.Generator, frames: int) -> torch.Tensor:
        """At most `frames` samples of `clip`, from a random offset when it is longer."""
        if clip.frames > frames:
            return load_segment(clip.path, offset=int(rng.integers(clip.frames - frames + 1)), frames=frames,
                                sample_rate=self.rate)
        return load_audio(clip.path, sample_rate=self.rate)[:frames]  # the file may hold more than its sure frames

    def _speech(self, rng: np.random.Generator, need: int | None) -> tuple[torch.Tensor, list[Clip]]:
        which = self._pick(rng, self.speech)
        clips = self.speech[which].clips
        clip = clips[int(rng.integers(len(clips)))]
        if need is None:  # the whole clip
            pauses = [int(rng.integers(int(0.25 * self.rate) + 1)) for _ in range(2)]
            return torch.nn.functional.pad(load_audio(clip.path, sample_rate=self.rate), pauses), [clip]
        if not self.spec.fill:
            wav = self._load(clip, rng, need)
            start = int(rng.integers(need - wav.shape[0] + 1))
            return torch.nn.functional.pad(wav, (start, need - start - wav.shape[0])), [clip]
        group = self.by_group[which][clip.group]
        pieces, used, total = [torch.zeros(int(rng.integers(int(0.25 * self.rate) + 1)))], [], 0
        total = pieces[0].shape[0]
        while total < need:
            wav = self._load(clip, rng, need - total)
            pause = torch.zeros(int(rng.uniform(0.05, 0.4) * self.rate))
            pieces += [wav, pause]
            used.append(clip)
            total += wav.shape[0] + pause.shape[0]
            clip = clips[group[int(rng.integers(len(group)))]]
        return torch.cat(pieces)[:need], used

    def _voice(self, rng: np.random.Generator, wav: torch.Tensor) -> torch.Tensor:
        v = self.spec.voice
        if rng.random() < v.speed_prob:
            wav = devices.seeded(self.speeds, wav[None], int(rng.integers(2**62)))[0]
        if rng.random() < v.pitch_prob:
            import librosa
            wav = torch.from_numpy(librosa.effects.pitch_shift(wav.numpy(), sr=self.rate,
                                                               n_steps=rng.uniform(*v.pitch_semitones)))
        if rng.random() < v.vtlp_prob:
            wav = warp_envelope(wav, vtlp_source(rng.uniform(*v.vtlp_alpha)))
        if rng.random() < v.formant_prob:
            ratio = rng.uniform(*v.formant_ratio)
            wav = warp_envelope(wav, lambda f: f / ratio)
        return wav

    def _noise(self, rng: np.random.Generator, length: int) -> tuple[torch.Tensor, list[str]]:
        spec, total, ids = self.spec.noise, torch.zeros(length), []
        for _ in range(int(rng.integers(spec.sources[0], spec.sources[1] + 1))):
            clips = self.noise[self._pick(rng, self.noise)].clips
            clip = clips[int(rng.integers(len(clips)))]
            wav = self._load(clip, rng, length)
            if wav.shape[0] < length:  # loop a short noise from a random point
                wav = wav.repeat(length // max(wav.shape[0], 1) + 2)
                start = int(rng.integers(wav.shape[0] - length + 1))
                wav = wav[start:start + length]
            rms = float(wav.pow(2).mean().sqrt())
            if rms > 1e-8:
                total += wav * (10 ** (rng.uniform(-spec.source_db, spec.source_db) / 20) / rms)
                ids.append(clip.id)
        if self.rooms is not None and rng.random() < self.spec.room.noise_prob:
            total = reverberate_aligned(total, torch.from_numpy(self.rooms.rirs[int(rng.integers(len(self.rooms)))]))
        return total, ids

    def _device(self, rng: np.random.Generator, noisy: torch.Tensor, target: torch.Tensor):
        d = self.spec.device
        codec = None
        if self.codec_delays and rng.random() < d.codec_prob:
            codec = sorted(self.codec_delays)[int(rng.integers(len(self.codec_delays)))]
        narrowband = rng.random() < d.narrowband_prob or (
            codec is not None and devices.CODECS[codec].sample_rate == devices.NARROWBAND_RATE)
        if narrowband:
            noisy, target = (devices.band_limit(w, self.rate) for w in (noisy, target))
        if rng.random() < d.eq_prob:
            resonances = tuple((float(rng.uniform(300, 0.8 * self.rate / (4 if narrowband else 2))),
                                float(rng.uniform(*d.resonance_db)), float(rng.uniform(*d.resonance_q)))
                               for _ in range(int(rng.integers(d.resonances[0], d.resonances[1] + 1))))
            eq = devices.Equaliser(float(rng.uniform(-d.tilt_db, d.tilt_db)), resonances)
            noisy, target = eq(torch.stack([noisy, target]), self.rate)
        if rng.random() < d.notch_prob:
            noisy, target = devices.seeded(self.drop_freq, torch.stack([noisy, target]), int(rng.integers(2**62)))
        gain = 10 ** (rng.uniform(*d.level_dbfs) / 20) / max(float(noisy.abs().max()), 1e-8)
        noisy, target = noisy * gain, target * gain
        if rng.random() < d.clip_prob:
            noisy = devices.hard_clip(noisy, rng.uniform(*d.clip_db))
        if rng.random() < d.dc_prob:
            noisy = noisy + rng.uniform(-d.dc, d.dc)
        if rng.random() < d.bits_prob:
            noisy = devices.drop_bits(noisy, devices.BIT_DEPTHS[int(rng.integers(len(devices.BIT_DEPTHS)))])
        if codec is not None:
            noisy = devices.apply_codec(noisy, codec, delay=self.codec_delays[codec],
                                        level=rng.uniform(*d.codec_level), sample_rate=self.rate)
        return noisy.float(), target.float(), codec, narrowband

    # -- one example ---------------------------------------------------------------------------------------
    def example(self, epoch: int, index: int) -> Example:
        rng = np.random.default_rng([self.seed, epoch, index])
        length = need = self.segment
        if length is not None and self.spec.voice.speed_prob:
            need = math.ceil(length * self.spec.voice.speed[1]) + 1
        for _ in range(5):  # a crop of a long clip can fall inside a pause: draw again
            speech, clips = self._speech(rng, need)
            if float(speech.abs().max()) > 1e-4:
                break
        speech = self._voice(rng, speech)
        length = speech.shape[0] if length is None else length
        speech = torch.nn.functional.pad(speech[:length], (0, max(0, length - speech.shape[0])))
        reverberant, target, room = speech, speech, None
        if self.rooms is not None and rng.random() < self.spec.room.prob:
            room = int(rng.integers(len(self.rooms)))
            rir = torch.from_numpy(self.rooms.rirs[room])
            reverberant = reverberate_aligned(speech, rir)
            if self.spec.room.target == "early":
                target = reverberate_aligned(speech, early_part(rir, early_ms=self.spec.room.early_ms,
                                                                sample_rate=self.rate))
            elif self.spec.room.target == "reverberant":
                target = reverberant
        noisy, snr, noise_ids = reverberant, None, []
        if rng.random() >= self.spec.noise.none_prob:
            noise, noise_ids = self._noise(rng, length)
            power = active_power(reverberant, floor_db=self.spec.noise.active_floor_db, sample_rate=self.rate)
            if noise_ids and power > 0:
                snr = float(rng.uniform(*self.spec.noise.snr_db))
                scale = math.sqrt(power / (float(noise.pow(2).mean()) * 10 ** (snr / 10)))
                noisy = reverberant + scale * noise
            else:
                noise_ids = []
        noisy, target, codec, narrowband = self._device(rng, noisy, target)
        first = clips[0]
        return Example(noisy, target, tuple(c.id for c in clips), tuple(c.group for c in clips), tuple(noise_ids),
                       snr, room, codec, narrowband, first.text, first.label)


def _groups(clips: tuple[Clip, ...]) -> dict[str, list[int]]:
    groups = defaultdict(list)
    for i, clip in enumerate(clips):
        groups[clip.group].append(i)
    return dict(groups)

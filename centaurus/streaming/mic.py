"""Live input: float32 mono blocks at a target rate from a PortAudio input device (a microphone).

PortAudio calls the stream callback on its own thread. The callback only copies each block onto a bounded
queue; the consumer's thread downmixes and resamples, so a slow consumer never stalls the audio thread.
Problems with the device raise `DeviceError`, which the CLI prints as one line.
"""
from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import soxr
from typing_extensions import Self

from ..errors import DeviceError
from .devices import open_stream, portaudio, query_device, stream_format

_POLL_S = 0.1  # how often a waiting consumer checks that the stream is still running


@dataclass(frozen=True)
class InputDevice:
    """A device that can record: its PortAudio index, name, input channels and default rate in Hz."""

    index: int
    name: str
    channels: int
    default_rate: int
    is_default: bool


def list_devices() -> list[InputDevice]:
    """Every PortAudio device with at least one input channel, in index order."""
    sd = portaudio()
    default = sd.default.device[0]
    return [InputDevice(d["index"], d["name"], d["max_input_channels"], round(d["default_samplerate"]),
                        d["index"] == default)
            for d in sd.query_devices() if d["max_input_channels"] > 0]


class Microphone:
    """Records from an input device as float32 mono (L,) tensors at `sample_rate` Hz, about `block_ms` each.

    The stream opens at `sample_rate` if the device takes it, otherwise at the device's default rate and is
    resampled here; mono if the device takes it, otherwise two channels averaged.

        with Microphone() as mic:
            for block in mic:  # until the caller breaks out
                ...

    Args:
        device: PortAudio device index (see `list_devices()`); None for the system's default input.
        sample_rate: rate of the yielded blocks, Hz.
        block_ms: length of the blocks PortAudio delivers, ms.
        max_queue_s: audio held for a consumer that falls behind; blocks beyond it are dropped (and counted).
        stall_s: seconds without audio after which the device counts as gone (an idle PulseAudio monitor
            source can take 2 s to deliver its first block).

    Attributes:
        overflows: input overflows PortAudio reported, plus blocks dropped because the consumer fell behind.
        device_name, capture_rate, capture_channels: the device and the format its stream opens with.

    Raises:
        DeviceError: from the constructor if the device is missing or cannot record in any usable format, from
            the `with` if the stream cannot open, and from the iteration once the device stops delivering audio.
    """

    def __init__(self, device: int | None = None, *, sample_rate: int = 16000, block_ms: float = 40.0,
                 max_queue_s: float = 5.0, stall_s: float = 5.0):
        if block_ms <= 0 or max_queue_s <= 0 or stall_s <= 0:
            raise ValueError("block_ms, max_queue_s and stall_s must be positive")
        self.sample_rate, self.block_ms, self.stall_s = sample_rate, block_ms, stall_s
        sd = portaudio()
        info = query_device(sd, device, "input")
        self.device_index, self.device_name = info["index"], info["name"]
        self.capture_rate, self.capture_channels = stream_format(sd, info, sample_rate, "input")
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=max(1, round(max_queue_s * 1000 / block_ms)))
        self.overflows = 0
        self._samples = 0
        self._stream: Any = None
        self._resampler: soxr.ResampleStream | None = None

    @property
    def seconds(self) -> float:
        """Audio yielded so far, in seconds."""
        return self._samples / self.sample_rate

    def __enter__(self) -> Self:
        sd = portaudio()
        if self.capture_rate != self.sample_rate:  # a streaming resampler: one-shot calls per block would click
            self._resampler = soxr.ResampleStream(self.capture_rate, self.sample_rate, 1, dtype="float32",
                                                  quality="HQ")
        self._stream = open_stream(sd, "input", self.device_index, self.device_name, rate=self.capture_rate,
                                   channels=self.capture_channels, block_ms=self.block_ms, callback=self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        stream, self._stream = self._stream, None
        stream.close()  # ignores errors: a device that went away has nothing left to release

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield float32 mono blocks until the caller stops; raises `DeviceError` once the device stops delivering audio."""
        if self._stream is None:
            raise RuntimeError("iterate inside `with Microphone(...) as mic:`")
        waited = 0.0
        while True:
            try:
                block = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                waited += _POLL_S
                if not self._stream.active:  # PortAudio ended the stream on its own: the device went away
                    raise DeviceError(f"input device {self.device_name!r} went away") from None
                if waited >= self.stall_s:
                    raise DeviceError(f"input device {self.device_name!r} delivered no audio for "
                                      f"{self.stall_s:g} s") from None
                continue
            waited = 0.0
            mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
            if self._resampler is not None:
                mono = self._resampler.resample_chunk(mono)
            if mono.size:
                self._samples += mono.size
                yield np.ascontiguousarray(mono, dtype=np.float32)

    def _callback(self, indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        """PortAudio's thread: copy the (frames, channels) block out of PortAudio's buffer, never block."""
        if status.input_overflow:
            self.overflows += 1
        try:
            self._queue.put_nowait(indata.copy())
        except queue.Full:
            self.overflows += 1

"""PortAudio devices, shared by the microphone and the speaker: loading the library, finding a device that
can record or play, and the stream format to open it with. Problems raise `DeviceError`, which the CLI prints
as one line."""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

from ..errors import DeviceError

Direction = Literal["input", "output"]


def portaudio() -> ModuleType:
    """`sounddevice`, imported on first use: importing it loads PortAudio, which file-only users need not have."""
    try:
        import sounddevice
    except OSError as err:  # the Python package is installed but the PortAudio library is not
        raise DeviceError(f"PortAudio is not available ({err}); install libportaudio2") from None
    return sounddevice


def query_device(sd: ModuleType, device: int | None, direction: Direction) -> dict:
    """The device's PortAudio description; a missing device, or one without channels in `direction`, is a
    `DeviceError`."""
    which = f"default {direction} device" if device is None else f"{direction} device {device}"
    try:
        info = sd.query_devices(device, direction)
    except (sd.PortAudioError, ValueError):
        raise DeviceError(f"no {which} (--list-devices lists the input devices)" if direction == "input"
                          else f"no {which}") from None
    if info[f"max_{direction}_channels"] < 1:
        raise DeviceError(f"the {which} ({info['name']!r}) has no {direction} channels")
    return info


def stream_format(sd: ModuleType, info: dict, sample_rate: int, direction: Direction) -> tuple[int, int]:
    """(rate, channels) to open the device with: `sample_rate` and mono if it takes them, else its default rate
    and stereo; a `DeviceError` if it takes neither in float32."""
    check = sd.check_input_settings if direction == "input" else sd.check_output_settings
    for rate in dict.fromkeys([sample_rate, round(info["default_samplerate"])]):
        for channels in dict.fromkeys([1, min(2, info[f"max_{direction}_channels"])]):
            try:
                check(device=info["index"], samplerate=rate, channels=channels, dtype="float32")
                return rate, channels
            except (sd.PortAudioError, ValueError):
                continue
    verb = "records" if direction == "input" else "plays"
    raise DeviceError(f"{direction} device {info['name']!r} {verb} neither at {sample_rate} Hz nor at its "
                      f"default rate, in mono or stereo float32")


def open_stream(sd: ModuleType, direction: Direction, device: int, name: str, *, rate: int, channels: int,
                block_ms: float, callback: Callable) -> Any:
    """A started float32 PortAudio stream on `device` (called `name` in errors) whose `callback` handles
    blocks of `block_ms`; a device that refuses to open is a `DeviceError`."""
    kind = sd.InputStream if direction == "input" else sd.OutputStream
    try:
        stream = kind(device=device, samplerate=rate, channels=channels, dtype="float32",
                      blocksize=round(rate * block_ms / 1000), callback=callback)
        stream.start()
    except sd.PortAudioError as err:
        raise DeviceError(f"cannot open {direction} device {name!r}: {err}") from None
    return stream

"""PortAudio devices, shared by the microphone and the speaker: loading the library, finding a device that
can record or play, and the stream format to open it with. Problems raise `DeviceError`, which the CLI prints
as one line."""
from __future__ import annotations

from types import ModuleType
from typing import Literal

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

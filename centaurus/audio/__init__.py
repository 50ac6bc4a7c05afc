"""Audio I/O floor: float32 mono tensors at a target rate, atomic writes, bounded-memory streaming."""
from centaurus.audio.io import (
    SAMPLE_RATE,
    SUPPORTED_SUBTYPES,
    AudioInfo,
    audio_info,
    iter_blocks,
    load_audio,
    load_segment,
    resample,
    save_audio,
)

__all__ = ["SAMPLE_RATE", "SUPPORTED_SUBTYPES", "AudioInfo", "audio_info", "iter_blocks", "load_audio", "load_segment",
           "resample", "save_audio"]

"""Audio I/O floor: float32 mono tensors (`io`) or arrays (`files`) at a target rate, atomic writes,
bounded-memory streaming. Names load on first use, so array-only users never import torch."""
from centaurus._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["SAMPLE_RATE", "SUPPORTED_SUBTYPES", "AudioInfo", "audio_info", "iter_samples", "peak_level"], ".files"),
    **dict.fromkeys(["iter_blocks", "load_audio", "load_segment", "resample", "save_audio"], ".io"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

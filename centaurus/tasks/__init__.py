"""Task plugins for the generic trainer: keyword spotting, denoising and CTC ASR.

Imports models, layers, data, audio and errors only; never `centaurus.training` or the CLI.
"""
from .._lazy import lazy_exports

# Names load on first use, so the torch-free parts (CTC decoding, the n-gram LM, plots) come without torch.
_EXPORTS = {
    **dict.fromkeys(["ASRData", "ASRDecode", "ASRModel", "ASRTask", "CTCEncoder", "greedy_decode",
                     "prefix_beam_search"], ".asr"),
    **dict.fromkeys(["AugmentSpec", "Strict", "Task"], ".base"),
    **dict.fromkeys(["DenoiseData", "DenoiseLoss", "DenoiseModel", "DenoiseTask"], ".denoise"),
    **dict.fromkeys(["KWSData", "KWSLoss", "KWSModel", "KWSTask"], ".kws"),
    **dict.fromkeys(["multi_resolution_stft_loss", "si_sdr"], ".losses"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

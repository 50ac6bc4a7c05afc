"""Task plugins for the generic trainer: keyword spotting, denoising and CTC ASR.

Imports models, layers, data, audio and errors only; never `centaurus.training` or the CLI.
"""
from .asr import ASRData, ASRDecode, ASRModel, ASRTask, CTCEncoder, greedy_decode, prefix_beam_search
from .base import AugmentSpec, Strict, Task
from .denoise import DenoiseData, DenoiseLoss, DenoiseModel, DenoiseTask
from .kws import KWSData, KWSLoss, KWSModel, KWSTask
from .losses import multi_resolution_stft_loss, si_sdr

__all__ = ["ASRData", "ASRDecode", "ASRModel", "ASRTask", "AugmentSpec", "CTCEncoder", "DenoiseData", "DenoiseLoss",
           "DenoiseModel", "DenoiseTask", "KWSData", "KWSLoss", "KWSModel", "KWSTask", "Strict", "Task",
           "greedy_decode", "multi_resolution_stft_loss", "prefix_beam_search", "si_sdr"]

"""Modules over `centaurus.ssm`: the SSM layer, blocks, and streaming-aware resamplers and STFT."""
from .blocks import act_block, make_norm
from .mean_norm import ExponentialMeanNorm
from .params import param_groups
from .resample import AvgPool, RepeatUpsample, StridedConvDown, Subsample, TransposedUpsample, streamable
from .ssm_layer import MODES, SSMLayer
from .stft import STFTAnalysis, STFTSynthesis
from .streaming import StreamingModule, StreamingSequential, reset_state, set_run_mode

__all__ = ["AvgPool", "ExponentialMeanNorm", "RepeatUpsample", "StridedConvDown", "Subsample", "TransposedUpsample",
           "streamable", "act_block", "param_groups", "make_norm", "MODES", "SSMLayer", "StreamingModule",
           "StreamingSequential", "STFTAnalysis", "STFTSynthesis", "reset_state", "set_run_mode"]

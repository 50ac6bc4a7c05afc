"""`MiniCentaur`: the small README network, full → pool 4 → neck → pool 2 → s5 (spec §7.3).

Its pools carry their partial windows, so it streams exactly at any chunk size.
"""
from ..layers import AvgPool, SSMLayer, StreamingSequential


class MiniCentaur(StreamingSequential):
    """(B, 1, L) → (B, 16, ⌊L/8⌋)."""

    downsample_factor = 8

    def __init__(self, num_states: int = 16):
        super().__init__(
            SSMLayer(num_states, 1, 4, mode="full", use_activations=True),
            AvgPool(4),
            SSMLayer(num_states, 4, 8, mode="neck", use_activations=True),
            AvgPool(2),
            SSMLayer(num_states, 8, 16, mode="s5", state_blocks=4),
        )

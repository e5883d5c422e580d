"""The Pixel Condenser's building blocks (Sec. 3.1, App. C), one concept per module."""

from .channel_attention import ChannelAttention, ChannelAttentionBlock, transposed_attention
from .lr_pyramid import LRPyramid
from .norm import LayerNorm2d, group_norm
from .resblock import ResBlock
from .timestep import TimestepEmbedding, sinusoidal_embedding
from .unit import CondenserUnit
from .wavelet_sampling import WaveletDownsample, WaveletUpsample
from .window_attention import (WindowAttention, WindowAttentionBlock, relative_position_index, shifted_window_mask,
                               window_partition, window_reverse)

__all__ = ["ChannelAttention", "ChannelAttentionBlock", "transposed_attention", "LRPyramid", "LayerNorm2d",
           "group_norm", "ResBlock", "TimestepEmbedding", "sinusoidal_embedding", "CondenserUnit",
           "WaveletDownsample", "WaveletUpsample", "WindowAttention", "WindowAttentionBlock",
           "relative_position_index", "shifted_window_mask", "window_partition", "window_reverse"]

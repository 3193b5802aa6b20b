"""The RGBA VAE: the backbone's VAE with a 4th (alpha) channel in and out, around the same latent space.

Widening adds zero weights, so before any fine-tuning the encoder ignores alpha and the decoder's RGB
is the base decoder's RGB exactly (the new alpha channel decodes to 0.5 everywhere).

Convention: RGBA in [0, 1] with straight (not premultiplied) colour; fully transparent pixels carry
mid-grey, so the encoder never sees the colours of pixels nobody can see.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _widen_conv(conv: nn.Conv2d, *, in_channels: int | None = None, out_channels: int | None = None) -> nn.Conv2d:
    """A copy of ``conv`` with more input or output channels; the new weights (and bias) are zero."""
    cin = in_channels or conv.in_channels
    cout = out_channels or conv.out_channels
    wide = nn.Conv2d(cin, cout, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups,
                     bias=conv.bias is not None, device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        wide.weight.zero_()
        wide.weight[: conv.out_channels, : conv.in_channels] = conv.weight
        if conv.bias is not None:
            wide.bias.zero_()
            wide.bias[: conv.out_channels] = conv.bias
    return wide


def make_rgba_vae(vae) -> nn.Module:
    """A deep copy of ``vae`` whose encoder takes RGBA and whose decoder gives RGBA."""
    rgba = copy.deepcopy(vae)
    if rgba.encoder.conv_in.in_channels == 3:
        rgba.encoder.conv_in = _widen_conv(rgba.encoder.conv_in, in_channels=4)
    if rgba.decoder.conv_out.out_channels == 3:
        rgba.decoder.conv_out = _widen_conv(rgba.decoder.conv_out, out_channels=4)
    rgba.register_to_config(in_channels=4, out_channels=4)
    return rgba


def rgba_to_vae_input(rgba: torch.Tensor) -> torch.Tensor:
    """(B, 4, H, W) straight RGBA in [0, 1] -> the encoder's input in [-1, 1] (grey where transparent)."""
    rgb, alpha = rgba[:, :3], rgba[:, 3:4]
    rgb = torch.where(alpha > 0, rgb * 2 - 1, torch.zeros_like(rgb))
    return torch.cat([rgb, alpha * 2 - 1], dim=1)


def vae_output_to_rgba(x: torch.Tensor) -> torch.Tensor:
    """The decoder's output in [-1, 1] -> straight RGBA in [0, 1]."""
    return ((x + 1) / 2).clamp(0, 1)

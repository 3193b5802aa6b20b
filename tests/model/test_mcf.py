"""MCF: the kernelised linear attention is the formula it claims, and its cost is linear in tokens."""

import torch
from torch.utils.flop_counter import FlopCounterMode

from layerdecomp.model import MCFConfig, MultiModalContextFusion, linear_attention
from layerdecomp.model.mcf import feature_map


def reference_attention(q, k, v):
    """The same kernelised formula evaluated explicitly, pair by pair: O(L·K) weights."""
    weights = torch.einsum("bhld,bhkd->bhlk", feature_map(q), feature_map(k))  # φ(q_i)·φ(k_j)
    return torch.einsum("bhlk,bhkd->bhld", weights, v) / weights.sum(-1, keepdim=True)


def test_linear_attention_equals_explicit_computation():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g, dtype=torch.float64) for n in (10, 30, 30))
    assert torch.allclose(linear_attention(q, k, v, eps=0.0), reference_attention(q, k, v), atol=1e-12, rtol=1e-10)


def test_linear_attention_gradients():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, n, 4, generator=g, dtype=torch.float64, requires_grad=True) for n in (5, 9, 9))
    assert torch.autograd.gradcheck(lambda a, b, c: linear_attention(a, b, c, eps=0.0), (q, k, v))


def _mcf_flops(tokens_per_row: int, rows: int) -> int:
    config = MCFConfig(out_channels=8, heads=2, head_dim=8)
    mcf = MultiModalContextFusion(config, token_channels=16, context_channels=80)
    length = rows * tokens_per_row
    context = torch.randn(1, length, 80)
    modality = torch.randn(1, 3, length, 16)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        mcf(context, modality, torch.zeros(1, 3), (rows, tokens_per_row))
    return counter.get_total_flops()


def test_mcf_flops_grow_linearly_with_tokens():
    small, double, quadruple = _mcf_flops(16, 16), _mcf_flops(16, 32), _mcf_flops(32, 32)
    assert small > 0
    assert abs(double / small - 2.0) < 1e-6
    assert abs(quadruple / small - 4.0) < 1e-6


def test_missing_modality_flag_changes_the_output():
    torch.manual_seed(0)
    mcf = MultiModalContextFusion(MCFConfig(out_channels=8, heads=2, head_dim=8), 16, 80)
    context, modality = torch.randn(1, 64, 80), torch.zeros(1, 3, 64, 16)
    with torch.no_grad():
        present = mcf(context, modality, torch.zeros(1, 3), (8, 8))
        missing = mcf(context, modality, torch.tensor([[0.0, 1.0, 1.0]]), (8, 8))
    assert present.shape == (1, 64, 8)
    assert not torch.allclose(present, missing)

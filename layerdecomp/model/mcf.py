"""Multi-Modal Context Fusion (MCF): Canny edges, depth and segmentation, fused into one vector per token.

Each modality map is rendered as a picture, encoded by the backbone's own (frozen) VAE and packed to
tokens like any latent: K = M·L modality tokens for L latent tokens and M modalities. A missing modality
(no model configured, or it failed to load) is a zero map plus a flag the keys see, so one adapter works
with or without the optional estimators.

Queries: the paper's summaries speak of N ≪ K learned query tokens, but the fused result is concatenated
*channel-wise* into each stream's tokens, which needs one vector per latent token. So here there is one
query per latent token, computed from that token's Fill context (masked-image latent + mask) and its
position, and it attends over all K modality tokens. To keep the cost linear in the number of tokens
(O(L·K·d) instead of softmax's O(L·K) attention matrix, which at 1024² would be 4096 × 12288), the
attention is kernelised: ``out_i = φ(q_i)ᵀ Σ_j φ(k_j) v_jᵀ / φ(q_i)ᵀ Σ_j φ(k_j)`` with φ = elu + 1.
Queries and keys both carry Fourier features of the token's position, so a query can prefer the
modality tokens at its own place. Still, a kernelised summary (one D×D matrix per head) cannot hand a
token the edge that runs through its own pixels; so the model also feeds each token its own modality
latents directly (``MCFConfig.local``, see ``dual_stream.py``).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import MODALITIES, MCFConfig


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1: positive, so the normaliser never vanishes."""
    return F.elu(x) + 1


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Kernelised attention. q: (B, H, L, D), k and v: (B, H, K, D) -> (B, H, L, D). Cost O((L + K)·D²)."""
    q, k = feature_map(q), feature_map(k)
    kv = torch.einsum("bhkd,bhke->bhde", k, v)  # Σ_j φ(k_j) v_jᵀ
    normaliser = torch.einsum("bhld,bhd->bhl", q, k.sum(dim=2))  # φ(q_i)ᵀ Σ_j φ(k_j)
    return torch.einsum("bhld,bhde->bhle", q, kv) / (normaliser[..., None] + eps)


def position_features(rows: int, cols: int, frequencies: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(rows·cols, 4·frequencies) sin/cos features of each token's (row, col) in [0, 1], row-major like packing."""
    y = (torch.arange(rows, device=device, dtype=torch.float32) + 0.5) / rows
    x = (torch.arange(cols, device=device, dtype=torch.float32) + 0.5) / cols
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    coords = torch.stack([yy.reshape(-1), xx.reshape(-1)], dim=-1)  # (L, 2)
    bands = math.pi * (2.0 ** torch.arange(frequencies, device=device, dtype=torch.float32))
    angles = coords[:, :, None] * bands  # (L, 2, F)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).reshape(rows * cols, -1).to(dtype)


class MultiModalContextFusion(nn.Module):
    """Fuses M modality token maps into one ``out_channels`` vector per latent token."""

    def __init__(self, config: MCFConfig, token_channels: int, context_channels: int):
        super().__init__()
        self.config = config
        self.modalities = len(MODALITIES)
        inner = config.heads * config.head_dim
        positions = 4 * config.position_frequencies
        self.to_q = nn.Linear(context_channels + positions, inner)
        # keys and values see the modality token, which modality it is, whether it is missing, and where it is
        self.to_k = nn.Linear(token_channels + self.modalities + 1 + positions, inner)
        self.to_v = nn.Linear(token_channels + self.modalities + 1 + positions, inner)
        self.to_out = nn.Linear(inner, config.out_channels)

    @property
    def device(self) -> torch.device:  # diffusers' pipelines ask their components for these
        return self.to_q.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.to_q.weight.dtype

    def forward(self, context: torch.Tensor, modality_tokens: torch.Tensor, missing: torch.Tensor,
                grid: tuple[int, int]) -> torch.Tensor:
        """context (B, L, Cq); modality_tokens (B, M, L, Ct); missing (B, M) in {0, 1}; grid = (rows, cols) of
        the packed tokens. Returns (B, L, out_channels)."""
        b, m, length, _ = modality_tokens.shape
        dtype = self.to_q.weight.dtype
        pos = position_features(*grid, self.config.position_frequencies, context.device, dtype)  # (L, P)
        query_in = torch.cat([context.to(dtype), pos.expand(b, -1, -1)], dim=-1)
        which = torch.eye(m, device=context.device, dtype=dtype)[None, :, None, :].expand(b, m, length, m)
        flag = missing.to(dtype)[:, :, None, None].expand(b, m, length, 1)
        key_in = torch.cat([modality_tokens.to(dtype), which, flag, pos.expand(b, m, -1, -1)], dim=-1)
        key_in = key_in.reshape(b, m * length, -1)

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.unflatten(-1, (self.config.heads, self.config.head_dim)).transpose(1, 2)

        out = linear_attention(heads(self.to_q(query_in)), heads(self.to_k(key_in)), heads(self.to_v(key_in)))
        return self.to_out(out.transpose(1, 2).flatten(2))


# ------------------------------------------------------------------------------- modality pictures
class ModalityEstimators:
    """Makes the modality pictures (H×W×3 float32 in [0, 1]) for a crop.

    Depth and segmentation come from transformers pipelines loaded on first use from the configured model
    ids (local files only unless told otherwise); one that is not configured or fails to load is reported
    as missing (``self.problems`` says why) and its map is zeros.
    """

    def __init__(self, config: MCFConfig, device: Optional[str] = None, local_files_only: bool = True):
        self.config = config
        self.device = device
        self.local_files_only = local_files_only
        self._pipes: dict[str, object] = {}
        self.problems: dict[str, str] = {}

    def _pipe(self, modality: str):
        model_id = self.config.depth_model if modality == "depth" else self.config.segmentation_model
        if not model_id:
            self.problems[modality] = "no model configured"
            return None
        if modality not in self._pipes:
            try:
                self._pipes[modality] = self._load(modality, model_id)
            except Exception as exc:  # a missing optional estimator must not stop the decomposition
                self.problems[modality] = f"{model_id} could not be loaded ({type(exc).__name__})"
                self._pipes[modality] = None
        return self._pipes[modality]

    def _load(self, modality: str, model_id: str):
        """The transformers pipeline for a modality, its model and processor loaded with safetensors only."""
        import transformers

        hub = {"local_files_only": self.local_files_only}
        if modality == "depth":
            task, classes = "depth-estimation", ("AutoModelForDepthEstimation",)
        else:
            task = "image-segmentation"
            classes = ("AutoModelForSemanticSegmentation", "AutoModelForUniversalSegmentation")
        model, last_error = None, None
        for name in classes:
            try:
                model = getattr(transformers, name).from_pretrained(model_id, use_safetensors=True, **hub)
                break
            except ValueError as exc:  # not this kind of model: try the next class
                last_error = exc
        if model is None:
            raise last_error
        processor = transformers.AutoImageProcessor.from_pretrained(model_id, **hub)
        return transformers.pipeline(task, model=model.eval(), image_processor=processor, device=self.device)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, H, W, 3) float32 maps and (M,) bool "missing" flags for an H×W×3 uint8 picture."""
        h, w = image.shape[:2]
        maps = np.zeros((len(MODALITIES), h, w, 3), np.float32)
        missing = np.zeros(len(MODALITIES), bool)
        maps[0] = canny_map(image, self.config)
        for index, modality in enumerate(MODALITIES[1:], start=1):
            pipe = self._pipe(modality)
            if pipe is None:
                missing[index] = True
                continue
            from PIL import Image

            try:
                result = pipe(Image.fromarray(image))
                maps[index] = depth_map(result, (h, w)) if modality == "depth" else segmentation_map(result, (h, w))
            except Exception as exc:  # optional: report it and go on without this modality
                self.problems[modality] = f"the {modality} estimator failed ({type(exc).__name__}: {exc})"
                maps[index] = 0
                missing[index] = True
        return maps, missing


def canny_map(image: np.ndarray, config: MCFConfig) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, config.canny_low, config.canny_high).astype(np.float32) / 255.0
    return np.repeat(edges[..., None], 3, axis=2)


def depth_map(result: dict, size: tuple[int, int]) -> np.ndarray:
    import cv2

    depth = np.asarray(result["depth"], np.float32)
    depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    span = float(depth.max() - depth.min())
    depth = (depth - depth.min()) / span if span > 0 else np.zeros_like(depth)
    return np.repeat(depth[..., None], 3, axis=2)


def segmentation_map(result: list, size: tuple[int, int]) -> np.ndarray:
    """Each segment painted in a colour fixed by its label, so the same class always looks the same."""
    import zlib

    import cv2

    out = np.zeros((size[0], size[1], 3), np.float32)
    for segment in result:
        mask = np.asarray(segment["mask"], np.uint8)
        mask = cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_NEAREST) > 127
        code = zlib.crc32(str(segment.get("label", "")).encode())
        out[mask] = [(code & 255) / 255.0, ((code >> 8) & 255) / 255.0, ((code >> 16) & 255) / 255.0]
    return out

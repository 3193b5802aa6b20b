"""The dual-stream transformer: widening, LoRA placement, and a fresh adapter reproducing base Fill."""

import re

import torch

from layerdecomp.model import LayerDecompositionModel, load_components
from layerdecomp.model import context as ctx

from .conftest import tiny_config


def _inputs(model, scene):
    image, hole = scene
    cond = model.encode_conditions(ctx.to_image_tensor(image), ctx.to_mask_tensor(hole))
    g = torch.Generator().manual_seed(3)
    noisy_bg = torch.randn(1, cond.tokens, 16, generator=g)
    noisy_fg = torch.randn(1, cond.tokens, 16, generator=g)
    return cond, noisy_bg, noisy_fg


def test_fresh_adapter_background_stream_equals_base_fill(base_dir, scene):
    base = load_components(base_dir)
    model = LayerDecompositionModel(load_components(base_dir), tiny_config())
    with torch.no_grad():
        cond, noisy_bg, noisy_fg = _inputs(model, scene)
        v_bg, v_fg = model(noisy_bg, noisy_fg, torch.tensor([0.6]), cond)
        # the base Fill model alone, on the background stream's own inputs
        reference = base.transformer(
            hidden_states=torch.cat([noisy_bg, cond.context_bg], dim=-1), timestep=torch.tensor([0.6]),
            guidance=torch.tensor([30.0]), pooled_projections=base.pooled_prompt_embeds,
            encoder_hidden_states=base.prompt_embeds, txt_ids=torch.zeros(base.prompt_embeds.shape[1], 3),
            img_ids=ctx.latent_ids(64, 64, 4), return_dict=False)[0]
    assert v_bg.shape == v_fg.shape == reference.shape
    torch.testing.assert_close(v_bg, reference, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(v_fg, reference, atol=1e-3)  # the foreground stream has its own context


def test_streams_interact_once_the_gates_open(base_dir, scene):
    model = LayerDecompositionModel(load_components(base_dir), tiny_config())
    with torch.no_grad():
        cond, noisy_bg, noisy_fg = _inputs(model, scene)
        v_closed, _ = model(noisy_bg, noisy_fg, torch.tensor([0.6]), cond)
        v_closed_other, _ = model(noisy_bg, noisy_fg.flip(1), torch.tensor([0.6]), cond)
        for gate in model.parameter_groups()["gates"]:
            gate.fill_(0.5)
        v_open, _ = model(noisy_bg, noisy_fg, torch.tensor([0.6]), cond)
        v_open_other, _ = model(noisy_bg, noisy_fg.flip(1), torch.tensor([0.6]), cond)
    torch.testing.assert_close(v_closed, v_closed_other, atol=0, rtol=0)  # gates shut: fg cannot reach bg
    assert (v_open - v_open_other).abs().max() > 1e-4  # gates open: the background sees the foreground


def test_widening_lora_targets_and_trainable_parts(base_dir):
    components = load_components(base_dir)
    model = LayerDecompositionModel(components, tiny_config(rank=4))
    transformer = model.transformer
    # 96 Fill + 8 MCF + 3 × 16 the local path's own modality latents
    assert transformer.config.in_channels == 96 + 8 + 48 and transformer.x_embedder.in_features == 152
    assert torch.count_nonzero(transformer.x_embedder.weight[:, 96:]) == 0
    wrapped = {n.rsplit(".lora_A", 1)[0] for n, _ in transformer.named_modules() if n.endswith("lora_A")}
    # every Linear of attention and FFN in the base model, found by where it sits rather than by the regex
    base_linears = {n for n, m in load_components(base_dir).transformer.named_modules()
                    if isinstance(m, torch.nn.Linear)}
    projections = {n for n in base_linears if ".attn." in n or ".ff." in n or ".ff_context." in n
                   or re.fullmatch(r"single_transformer_blocks\.\d+\.(proj_mlp|proj_out)", n)}
    assert len(projections) == 17  # 8 + 4 in the double block, 3 + 2 in the single block
    assert wrapped == projections
    assert "proj_out" not in wrapped and "single_transformer_blocks.0.proj_out" in wrapped
    assert "transformer_blocks.0.ff.net.2" in wrapped and "transformer_blocks.0.attn.add_q_proj" in wrapped
    groups = model.parameter_groups()
    trainable = {id(p) for p in model.trainable_parameters()}
    frozen_base = [n for n, p in transformer.named_parameters()
                   if "lora_" not in n and "cross_gate" not in n and not n.startswith("x_embedder")]
    assert all(not dict(transformer.named_parameters())[n].requires_grad for n in frozen_base)
    assert all(p.requires_grad for name in ("lora", "x_embedder", "gates", "mcf") for p in groups[name])
    assert len(groups["gates"]) == 2 and id(groups["gates"][0]) in trainable
    assert not any(p.requires_grad for p in model.vae.parameters())


def test_one_training_step_reaches_every_trainable_part(base_dir, scene):
    torch.manual_seed(0)
    model = LayerDecompositionModel(load_components(base_dir), tiny_config())
    image, hole = scene
    image_t, mask_t = ctx.to_image_tensor(image), ctx.to_mask_tensor(hole)
    fg = torch.rand(1, 4, 64, 64)
    cond = model.encode_conditions(image_t, mask_t)
    x0_bg, x0_fg = model.encode_targets(image_t, fg)
    optimiser = torch.optim.SGD(model.trainable_parameters(), lr=1e-2)
    for _ in range(2):  # the second step: zero-initialised parts have moved, so all gradients flow
        optimiser.zero_grad()
        t = torch.tensor([0.5])
        n_bg, n_fg = torch.randn_like(x0_bg), torch.randn_like(x0_fg)
        v_bg, v_fg = model(0.5 * x0_bg + 0.5 * n_bg, 0.5 * x0_fg + 0.5 * n_fg, t, cond)
        loss = ((v_bg - (n_bg - x0_bg)) ** 2).mean() + ((v_fg - (n_fg - x0_fg)) ** 2).mean()
        loss.backward()
        optimiser.step()
    for name, params in model.parameter_groups().items():
        if name != "rgba_vae":
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), name


def test_gradient_checkpointing_gives_the_same_gradients(base_dir, scene):
    """Recomputed blocks must see the stream layout again (it travels with the blocks' inputs)."""
    image, hole = scene
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = LayerDecompositionModel(load_components(base_dir), tiny_config())
        with torch.no_grad():
            for gate in model.parameter_groups()["gates"]:
                gate.fill_(0.3)
        if checkpointing:
            model.transformer.enable_gradient_checkpointing()
        model.transformer.train()
        cond, noisy_bg, noisy_fg = _inputs(model, scene)
        v_bg, v_fg = model(noisy_bg, noisy_fg, torch.tensor([0.4]), cond)
        (v_bg.square().mean() + v_fg.square().mean()).backward()
        groups = model.parameter_groups()
        grads.append([p.grad.clone() for p in groups["gates"] + groups["x_embedder"]])
    for plain, recomputed in zip(*grads):
        torch.testing.assert_close(plain, recomputed, atol=1e-6, rtol=1e-5)


class _PackedLinear(torch.nn.Linear):
    """Stands in for a quantised layer: its ``weight`` is not the matrix it applies."""

    def __init__(self, dense: torch.nn.Linear):
        super().__init__(dense.in_features, dense.out_features)
        self.compute_dtype = torch.float32
        with torch.no_grad():
            self.scale = dense.weight.abs().max() / 127
            self.weight.copy_(torch.round(dense.weight / self.scale))  # "int8" codes
            self.bias.copy_(dense.bias)

    def forward(self, x):
        return torch.nn.functional.linear(x, self.weight * self.scale, self.bias)


def test_widening_reads_a_quantised_input_projection_through_its_forward(base_dir, scene):
    from layerdecomp.model.dual_stream import dense_linear

    components = load_components(base_dir)
    packed = _PackedLinear(components.transformer.x_embedder)
    weight, bias = dense_linear(packed)
    torch.testing.assert_close(weight, packed.weight * packed.scale, atol=1e-6, rtol=0)
    torch.testing.assert_close(bias, packed.bias.detach())
    components.transformer.x_embedder = packed
    model = LayerDecompositionModel(components, tiny_config())
    assert type(model.transformer.x_embedder) is torch.nn.Linear
    torch.testing.assert_close(model.transformer.x_embedder.weight[:, :96], weight)


def test_each_token_reads_its_own_modality_latents(base_dir, scene):
    """MCF's local path: a token's input holds the modality latents at its own place (zero where a
    modality is missing), so a per-pixel edge reaches its own token, not only an attention summary."""
    model = LayerDecompositionModel(load_components(base_dir), tiny_config())
    seen = []
    model.transformer.x_embedder.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        cond, noisy_bg, noisy_fg = _inputs(model, scene)
        g = torch.Generator().manual_seed(4)
        cond.modality_tokens = torch.randn(cond.modality_tokens.shape, generator=g)
        cond.modality_missing = torch.tensor([[0.0, 1.0, 0.0]])
        model(noisy_bg, noisy_fg, torch.tensor([0.6]), cond)
    hidden = seen[0]  # (1, 2L, in_features): both streams
    own = cond.modality_tokens.clone()
    own[:, 1] = 0  # the missing modality reads as zeros
    expected = own.permute(0, 2, 1, 3).flatten(2)  # (1, L, 3 × 16), token by token
    for stream in (hidden[:, :cond.tokens], hidden[:, cond.tokens:]):
        torch.testing.assert_close(stream[..., -48:], expected, atol=0, rtol=0)

import torch

from layerdecomp.model import load_components, make_rgba_vae, rgba_to_vae_input, vae_output_to_rgba


def test_widened_decoder_reproduces_base_rgb_and_encoder_ignores_alpha(base_dir):
    vae = load_components(base_dir).vae
    rgba_vae = make_rgba_vae(vae)
    assert rgba_vae.encoder.conv_in.in_channels == 4 and rgba_vae.decoder.conv_out.out_channels == 4
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 4, 16, 16, generator=g)
    rgb = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        base = vae.decode(latents).sample
        wide = rgba_vae.decode(latents).sample
        torch.testing.assert_close(wide[:, :3], base, atol=1e-6, rtol=0)
        torch.testing.assert_close(wide[:, 3], torch.zeros_like(wide[:, 3]), atol=0, rtol=0)
        with_alpha = torch.cat([rgb, torch.rand(2, 1, 64, 64, generator=g)], 1)
        torch.testing.assert_close(rgba_vae.encode(with_alpha).latent_dist.mode(), vae.encode(rgb).latent_dist.mode(),
                                   atol=1e-6, rtol=0)


def test_rgba_conventions():
    rgba = torch.tensor([[[[0.2]], [[0.4]], [[0.6]], [[0.0]]], [[[0.2]], [[0.4]], [[0.6]], [[1.0]]]])
    x = rgba_to_vae_input(rgba)
    assert torch.equal(x[0, :3], torch.zeros(3, 1, 1))  # invisible colours never reach the encoder
    torch.testing.assert_close(vae_output_to_rgba(x[1:]), rgba[1:])

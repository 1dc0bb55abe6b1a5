"""PixArt-Sigma XL/2 1024-MS: a 0.6 B DiT with T5-XXL captions and the SDXL VAE."""

from __future__ import annotations

from diffbench.spec.models.parts import SDXL_VAE, T5_XXL, t5_tokenizer
from diffbench.spec.models.spec import Component, Inputs, ModelSpec

_TRANSFORMER = dict(
    in_channels=4, out_channels=8, patch_size=2, attention_bias=True, activation_fn="gelu-approximate",
    norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6, num_embeds_ada_norm=1000,
    use_additional_conditions=False,  # Sigma drops Alpha's resolution/aspect micro-conditions
    attention_type="default", upcast_attention=False, dropout=0.0,
)

TRANSFORMER = Component(
    "diffusers",
    "PixArtTransformer2DModel",
    full=_TRANSFORMER | dict(
        num_attention_heads=16, attention_head_dim=72, num_layers=28, cross_attention_dim=16 * 72,
        caption_channels=T5_XXL.full["d_model"], sample_size=128, interpolation_scale=2, norm_num_groups=32,
    ),
    tiny=_TRANSFORMER | dict(
        num_attention_heads=2, attention_head_dim=16, num_layers=2, cross_attention_dim=2 * 16,
        caption_channels=T5_XXL.tiny["d_model"], sample_size=8, interpolation_scale=1, norm_num_groups=4,
    ),
)

PIXART_SIGMA = ModelSpec(
    name="pixart-sigma",
    pipeline="PixArtSigmaPipeline",
    hub_id="PixArt-alpha/PixArt-Sigma-XL-2-1024-MS",
    denoiser="transformer",
    components=dict(transformer=TRANSFORMER, text_encoder=T5_XXL, vae=SDXL_VAE),
    tokenizers=dict(tokenizer=t5_tokenizer(300)),
    scheduler=("DPMSolverMultistepScheduler", dict(
        num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
        prediction_type="epsilon", algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint",
        lower_order_final=True, timestep_spacing="linspace", steps_offset=0, use_karras_sigmas=False,
    )),
    inputs=Inputs(height=1024, width=1024, steps=20, guidance=4.5, extra=dict(max_sequence_length=300)),
    # Resolution binning only knows the real sample sizes (32/64/128/256 latents), not the tiny one.
    tiny_inputs=Inputs(height=64, width=64, steps=4, guidance=4.5,
                       extra=dict(max_sequence_length=16, use_resolution_binning=False)),
    # PixArtTransformer2DModel has no diffusers `_repeated_blocks`: compile its transformer blocks regionally.
    repeated_blocks=("BasicTransformerBlock",),
)

SPECS = [PIXART_SIGMA]

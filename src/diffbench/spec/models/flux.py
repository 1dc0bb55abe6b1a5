"""FLUX.1 [dev] and [schnell]: black-forest-labs' 12 B rectified-flow transformer with CLIP-L and T5-XXL."""

from __future__ import annotations

from diffbench.spec.models.parts import CLIP_L, CLIP_TOKENIZER, T5_XXL, autoencoder_kl, t5_tokenizer
from diffbench.spec.models.spec import Component, Inputs, ModelSpec


def _transformer(guidance_embeds: bool) -> Component:
    return Component(
        "diffusers",
        "FluxTransformer2DModel",
        full=dict(
            patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
            num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
            guidance_embeds=guidance_embeds, axes_dims_rope=[16, 56, 56],
        ),
        tiny=dict(
            patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
            guidance_embeds=guidance_embeds, axes_dims_rope=[4, 6, 6],
        ),
    )


def _flux(name: str, hub_id: str, guidance_embeds: bool, scheduler: dict, inputs: Inputs) -> ModelSpec:
    return ModelSpec(
        name=name,
        pipeline="FluxPipeline",
        hub_id=hub_id,
        denoiser="transformer",
        components=dict(
            transformer=_transformer(guidance_embeds),
            text_encoder=CLIP_L,
            text_encoder_2=T5_XXL,
            vae=autoencoder_kl(16, scaling_factor=0.3611, shift_factor=0.1159,
                               use_quant_conv=False, use_post_quant_conv=False),
        ),
        tokenizers=dict(tokenizer=CLIP_TOKENIZER, tokenizer_2=t5_tokenizer(inputs.extra["max_sequence_length"])),
        scheduler=("FlowMatchEulerDiscreteScheduler", scheduler),
        inputs=inputs,
        attention_dispatch=True,
        tiny_inputs=Inputs(height=64, width=64, steps=4, guidance=inputs.guidance,
                           extra=dict(max_sequence_length=32)),
    )


FLUX_DEV = _flux(
    "flux-dev",
    "black-forest-labs/FLUX.1-dev",
    guidance_embeds=True,
    scheduler=dict(base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15,
                   num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True),
    inputs=Inputs(height=1024, width=1024, steps=28, guidance=3.5, extra=dict(max_sequence_length=512)),
)

FLUX_SCHNELL = _flux(
    "flux-schnell",
    "black-forest-labs/FLUX.1-schnell",
    guidance_embeds=False,
    scheduler=dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False),
    inputs=Inputs(height=1024, width=1024, steps=4, guidance=0.0, extra=dict(max_sequence_length=256)),
)

SPECS = [FLUX_DEV, FLUX_SCHNELL]

"""CogVideoX 2B and 5B: THUDM's text-to-video diffusion transformers with T5-XXL and a 3D causal VAE."""

from __future__ import annotations

from diffbench.spec.models.parts import T5_XXL, t5_tokenizer
from diffbench.spec.models.spec import Component, Inputs, ModelSpec

MAX_TEXT = 226  # the transformer's text positions and the tokenizer's max length
TINY_TEXT = 16

_TRANSFORMER = dict(
    in_channels=16, out_channels=16, patch_size=2, flip_sin_to_cos=True, freq_shift=0, attention_bias=True,
    activation_fn="gelu-approximate", timestep_activation_fn="silu", norm_elementwise_affine=True, norm_eps=1e-5,
    temporal_compression_ratio=4, spatial_interpolation_scale=1.875, temporal_interpolation_scale=1.0,
    use_learned_positional_embeddings=False,
)


def _transformer(heads: int, layers: int, rotary: bool) -> Component:
    return Component(
        "diffusers",
        "CogVideoXTransformer3DModel",
        full=_TRANSFORMER | dict(
            num_attention_heads=heads, attention_head_dim=64, num_layers=layers, time_embed_dim=512,
            text_embed_dim=4096, max_text_seq_length=MAX_TEXT, sample_width=90, sample_height=60, sample_frames=49,
            use_rotary_positional_embeddings=rotary,
        ),
        tiny=_TRANSFORMER | dict(
            num_attention_heads=2, attention_head_dim=16, num_layers=2, time_embed_dim=32,
            text_embed_dim=T5_XXL.tiny["d_model"], max_text_seq_length=TINY_TEXT,
            sample_width=6, sample_height=4, sample_frames=9, use_rotary_positional_embeddings=rotary,
        ),
    )


def _vae(scaling_factor: float) -> Component:
    blocks = dict(
        in_channels=3, out_channels=3, latent_channels=16, act_fn="silu", norm_eps=1e-6,
        down_block_types=["CogVideoXDownBlock3D"] * 4, up_block_types=["CogVideoXUpBlock3D"] * 4,
        temporal_compression_ratio=4, scaling_factor=scaling_factor, force_upcast=True,
        use_quant_conv=False, use_post_quant_conv=False,
    )
    return Component(
        "diffusers",
        "AutoencoderKLCogVideoX",
        full=blocks | dict(block_out_channels=[128, 256, 256, 512], layers_per_block=3, norm_num_groups=32,
                           sample_height=480, sample_width=720),
        tiny=blocks | dict(block_out_channels=[8, 8, 16, 16], layers_per_block=1, norm_num_groups=4,
                           sample_height=32, sample_width=48),
    )


def _scheduler(cls: str, snr_shift_scale: float) -> tuple[str, dict]:
    return cls, dict(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        clip_sample=False, clip_sample_range=1.0, sample_max_value=1.0, set_alpha_to_one=True, steps_offset=0,
        prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing",
        snr_shift_scale=snr_shift_scale,
    )


# 720x480, 49 frames (13 latent frames), 50 steps: the pipeline's defaults and the torchao README's runs.
_INPUTS = Inputs(height=480, width=720, steps=50, guidance=6.0, frames=49, extra=dict(max_sequence_length=MAX_TEXT))
# 9 frames = 3 latent frames, which the VAE decodes back to exactly 9 (5 frames would come back as 8).
_TINY_INPUTS = Inputs(height=32, width=48, steps=4, guidance=6.0, frames=9,
                      extra=dict(max_sequence_length=TINY_TEXT))


def _cogvideox(name: str, hub_id: str, heads: int, layers: int, rotary: bool, scaling_factor: float,
               scheduler: tuple[str, dict]) -> ModelSpec:
    return ModelSpec(
        name=name,
        pipeline="CogVideoXPipeline",
        hub_id=hub_id,
        denoiser="transformer",
        components=dict(
            transformer=_transformer(heads, layers, rotary),
            text_encoder=T5_XXL,
            vae=_vae(scaling_factor),
        ),
        tokenizers=dict(tokenizer=t5_tokenizer(MAX_TEXT)),
        scheduler=scheduler,
        inputs=_INPUTS,
        tiny_inputs=_TINY_INPUTS,
        output="video",
        repeated_blocks=("CogVideoXBlock",),
    )


COGVIDEOX_2B = _cogvideox(
    "cogvideox-2b", "THUDM/CogVideoX-2b", heads=30, layers=30, rotary=False, scaling_factor=1.15258426,
    scheduler=_scheduler("CogVideoXDDIMScheduler", snr_shift_scale=3.0),
)
COGVIDEOX_5B = _cogvideox(
    "cogvideox-5b", "THUDM/CogVideoX-5b", heads=48, layers=42, rotary=True, scaling_factor=0.7,
    scheduler=_scheduler("CogVideoXDPMScheduler", snr_shift_scale=1.0),
)

SPECS = [COGVIDEOX_2B, COGVIDEOX_5B]

"""Stable Diffusion XL base 1.0: Stability AI's 2.6 B UNet with CLIP-L and OpenCLIP bigG text encoders."""

from __future__ import annotations

from diffbench.spec.models.parts import CLIP_BIGG, CLIP_L, CLIP_TOKENIZER, SDXL_VAE
from diffbench.spec.models.spec import Component, Inputs, ModelSpec

# Down: plain, cross-attention, cross-attention (no fourth block); up mirrors it.
_BLOCKS = dict(
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    mid_block_type="UNetMidBlock2DCrossAttn",
    in_channels=4, out_channels=4, act_fn="silu", flip_sin_to_cos=True, freq_shift=0,
    addition_embed_type="text_time", use_linear_projection=True, norm_eps=1e-5,
)

# The add-embedding sees six micro-conditioning sizes (addition_time_embed_dim each) and the pooled
# text_encoder_2 projection: projection_class_embeddings_input_dim = 6 * addition_time_embed_dim + projection_dim.
UNET = Component(
    "diffusers",
    "UNet2DConditionModel",
    full=_BLOCKS | dict(
        block_out_channels=[320, 640, 1280], layers_per_block=2, transformer_layers_per_block=[1, 2, 10],
        attention_head_dim=[5, 10, 20],  # diffusers' name for the number of heads (64 channels each)
        cross_attention_dim=2048, addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=6 * 256 + CLIP_BIGG.full["projection_dim"],  # 2816
        norm_num_groups=32, sample_size=128,
    ),
    tiny=_BLOCKS | dict(
        block_out_channels=[16, 32, 64], layers_per_block=1, transformer_layers_per_block=[1, 1, 2],
        attention_head_dim=[1, 2, 4],
        cross_attention_dim=CLIP_L.tiny["hidden_size"] + CLIP_BIGG.tiny["hidden_size"], addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + CLIP_BIGG.tiny["projection_dim"],
        norm_num_groups=4, sample_size=8,
    ),
)

SDXL = ModelSpec(
    name="sdxl",
    pipeline="StableDiffusionXLPipeline",
    hub_id="stabilityai/stable-diffusion-xl-base-1.0",
    denoiser="unet",
    components=dict(unet=UNET, text_encoder=CLIP_L, text_encoder_2=CLIP_BIGG, vae=SDXL_VAE),
    tokenizers=dict(tokenizer=CLIP_TOKENIZER, tokenizer_2=CLIP_TOKENIZER),
    scheduler=("EulerDiscreteScheduler", dict(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type="epsilon", interpolation_type="linear", use_karras_sigmas=False,
        steps_offset=1, timestep_spacing="leading",
    )),
    # The seeds (fast-diffusion SDXL tutorial): 30 steps at the pipeline's default 1024² and guidance 5.0.
    inputs=Inputs(height=1024, width=1024, steps=30, guidance=5.0),
    tiny_inputs=Inputs(height=64, width=64, steps=4, guidance=5.0),
    zero_context_rows="its negative prompt's embeddings are zeros (the pipeline's force_zeros_for_empty_prompt, "
                      "on by default)",
)

SPECS = [SDXL]

"""Wan 2.1 T2V 1.3B: Wan-AI's flow-matching video transformer with a UMT5-XXL text encoder and the Wan VAE."""

from __future__ import annotations

from diffbench.spec.models.parts import UMT5_XXL, t5_tokenizer
from diffbench.spec.models.spec import Component, Inputs, ModelSpec

_TRANSFORMER = dict(
    patch_size=[1, 2, 2], in_channels=16, out_channels=16, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024,
)

TRANSFORMER = Component(
    "diffusers",
    "WanTransformer3DModel",
    full=_TRANSFORMER | dict(num_attention_heads=12, attention_head_dim=128, num_layers=30, ffn_dim=8960,
                             freq_dim=256, text_dim=UMT5_XXL.full["d_model"]),
    tiny=_TRANSFORMER | dict(num_attention_heads=2, attention_head_dim=16, num_layers=2, ffn_dim=64,
                             freq_dim=32, text_dim=UMT5_XXL.tiny["d_model"]),
)

# Per-channel latent statistics of the real VAE (its config's latents_mean / latents_std).
_LATENTS_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                 0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
_LATENTS_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.916]
_VAE = dict(z_dim=16, dim_mult=[1, 2, 4, 4], attn_scales=[], temperal_downsample=[False, True, True], dropout=0.0,
            latents_mean=_LATENTS_MEAN, latents_std=_LATENTS_STD)

VAE = Component(
    "diffusers",
    "AutoencoderKLWan",
    full=_VAE | dict(base_dim=96, num_res_blocks=2),
    tiny=_VAE | dict(base_dim=8, num_res_blocks=1),
)

WAN_T2V_1_3B = ModelSpec(
    name="wan2.1-t2v-1.3b",
    pipeline="WanPipeline",
    hub_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    attention_dispatch=True,
    denoiser="transformer",
    components=dict(transformer=TRANSFORMER, text_encoder=UMT5_XXL, vae=VAE),
    tokenizers=dict(tokenizer=t5_tokenizer(512)),
    scheduler=("UniPCMultistepScheduler", dict(
        num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0, solver_order=2,
        solver_type="bh2", predict_x0=True, lower_order_final=True, disable_corrector=[],
        timestep_spacing="linspace", steps_offset=0, final_sigmas_type="zero",
    )),
    # 832x480, 81 frames (21 latent frames), 50 steps, guidance 5.0: the pipeline's defaults and the seeds'.
    inputs=Inputs(height=480, width=832, steps=50, guidance=5.0, frames=81, extra=dict(max_sequence_length=512)),
    # 5 frames = 2 latent frames (the causal VAE keeps frame 0 and compresses the rest 4x).
    tiny_inputs=Inputs(height=32, width=48, steps=4, guidance=5.0, frames=5, extra=dict(max_sequence_length=16)),
    output="video",
    zero_context_rows="its prompt embeddings are zero-padded to max_sequence_length tokens",
)

SPECS = [WAN_T2V_1_3B]

"""The proxy models' architectures, as data: a small FLUX pipeline and a small open_clip CLIP.

Same classes as the real checkpoints (FluxTransformer2DModel, AutoencoderKL, CLIPTextModel, T5EncoderModel,
open_clip CLIP), shrunk so that all proxies together stay a few MB and train in minutes on one GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

from diffbench.spec.models.parts import BOS_ID, EOS_ID, PAD_ID, TINY_VOCAB
from diffbench.spec.models.spec import Component, Inputs, ModelSpec, Tokenizer

RESOLUTION = 64
TEXT_LENGTH = 16  # T5 tokens; captions are at most 9 words
# Shipped in the package; DIFFBENCH_PROXY_DIR points elsewhere (freshly trained proxies, tests).
DATA = Path(os.environ.get("DIFFBENCH_PROXY_DIR", Path(__file__).resolve().parents[1] / "data" / "proxy"))
FLUX_DIR = DATA / "flux-dev"
CLIP_DIR = DATA / "clip"


def _same(config: dict) -> dict:
    return dict(full=config, tiny=config)


FLUX_PROXY = ModelSpec(
    name="flux-dev",
    pipeline="FluxPipeline",
    hub_id="diffbench proxy (trained on procedural scenes)",
    denoiser="transformer",
    components=dict(
        transformer=Component("diffusers", "FluxTransformer2DModel", **_same(dict(
            # 6 heads x 32 = 192 wide: no 128x128 linear, which torchao 0.18's per-tensor fp8 mistakes for
            # 128x128 block scaling ("input_tensor must be 1x128 scaled"); real FLUX has none either.
            patch_size=1, in_channels=16, num_layers=2, num_single_layers=4, attention_head_dim=32,
            num_attention_heads=6, joint_attention_dim=128, pooled_projection_dim=64, guidance_embeds=False,
            axes_dims_rope=[8, 12, 12]))),
        text_encoder=Component("transformers", "CLIPTextModel", config_cls="CLIPTextConfig", **_same(dict(
            vocab_size=TINY_VOCAB, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=64,
            pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID))),
        text_encoder_2=Component("transformers", "T5EncoderModel", config_cls="T5Config", **_same(dict(
            vocab_size=TINY_VOCAB, d_model=128, d_kv=32, d_ff=512, num_layers=2, num_heads=4,
            feed_forward_proj="gated-gelu", dropout_rate=0.0, pad_token_id=PAD_ID, eos_token_id=EOS_ID,
            decoder_start_token_id=PAD_ID, use_cache=False))),
        vae=Component("diffusers", "AutoencoderKL", **_same(dict(
            in_channels=3, out_channels=3, latent_channels=4, act_fn="silu",
            down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
            block_out_channels=[32, 64, 64], layers_per_block=1, norm_num_groups=16, sample_size=RESOLUTION,
            use_quant_conv=False, use_post_quant_conv=False))),
    ),
    tokenizers=dict(tokenizer=Tokenizer("clip", 77), tokenizer_2=Tokenizer("t5", TEXT_LENGTH)),
    scheduler=("FlowMatchEulerDiscreteScheduler", dict(num_train_timesteps=1000, shift=1.0,
                                                       use_dynamic_shifting=False)),
    inputs=Inputs(height=RESOLUTION, width=RESOLUTION, steps=16, extra=dict(max_sequence_length=TEXT_LENGTH)),
    tiny_inputs=Inputs(height=RESOLUTION, width=RESOLUTION, steps=16, extra=dict(max_sequence_length=TEXT_LENGTH)),
)

# open_clip's config format (open_clip_config.json), loaded with the "local-dir:" schema.
CLIP_CONFIG = dict(
    model_cfg=dict(
        embed_dim=64,
        vision_cfg=dict(image_size=RESOLUTION, layers=4, width=128, head_width=32, patch_size=8),
        text_cfg=dict(context_length=TEXT_LENGTH, vocab_size=TINY_VOCAB, width=128, heads=4, layers=4,
                      pad_id=PAD_ID, eos_id=EOS_ID, pool_type="eos", hf_tokenizer_name="local"),
    ),
    preprocess_cfg=dict(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], interpolation="bicubic", resize_mode="squash"),
)

# Which models have a proxy; `--weights proxy` skips the others with this reason.
PROXIES = {"flux-dev": FLUX_DIR}

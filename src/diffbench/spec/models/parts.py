"""Component configs shared by several families (text encoders, VAEs): the real numbers once, here."""

from __future__ import annotations

from diffbench.spec.models.spec import Component, Tokenizer

# Token ids of the locally built tokenizers (see diffbench.tokenizers): the real T5 layout.
PAD_ID, EOS_ID, UNK_ID, BOS_ID = 0, 1, 2, 3
TINY_VOCAB = 1024  # >= the local tokenizer's vocabulary

# google/t5-v1_1-xxl encoder (FLUX text_encoder_2, CogVideoX, PixArt-Sigma): 4.76 B parameters.
T5_XXL = Component(
    "transformers",
    "T5EncoderModel",
    config_cls="T5Config",
    full=dict(
        vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", dropout_rate=0.0, layer_norm_epsilon=1e-6,
        pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=PAD_ID, use_cache=False,
    ),
    tiny=dict(
        vocab_size=TINY_VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        feed_forward_proj="gated-gelu", dropout_rate=0.0,
        pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=PAD_ID, use_cache=False,
    ),
)

# openai/clip-vit-large-patch14 text tower (FLUX, SDXL text_encoder): 123 M parameters.
CLIP_L = Component(
    "transformers",
    "CLIPTextModel",
    config_cls="CLIPTextConfig",
    full=dict(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
        pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
    ),
    tiny=dict(
        vocab_size=TINY_VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=32,
        pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
    ),
)

CLIP_TOKENIZER = Tokenizer("clip", 77)


def t5_tokenizer(max_length: int) -> Tokenizer:
    return Tokenizer("t5", max_length)


def autoencoder_kl(latent_channels: int, **scaling) -> Component:
    """The SD/SDXL/FLUX image VAE: four 2x down blocks (8x spatial), `latent_channels` latents."""
    blocks = dict(
        in_channels=3, out_channels=3, latent_channels=latent_channels, act_fn="silu",
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
    )
    return Component(
        "diffusers",
        "AutoencoderKL",
        full=blocks | scaling | dict(block_out_channels=[128, 256, 512, 512], layers_per_block=2,
                                     norm_num_groups=32, sample_size=1024),
        tiny=blocks | scaling | dict(block_out_channels=[8, 16, 16, 16], layers_per_block=1,
                                     norm_num_groups=4, sample_size=64),
    )


# The SDXL VAE (stabilityai/stable-diffusion-xl-base-1.0 `vae`, also PixArt-Sigma's): 83.7 M parameters.
SDXL_VAE = autoencoder_kl(4, scaling_factor=0.13025)

# laion CLIP-ViT-bigG-14 text tower with its projection (SDXL text_encoder_2): 695 M parameters.
CLIP_BIGG = Component(
    "transformers",
    "CLIPTextModelWithProjection",
    config_cls="CLIPTextConfig",
    full=CLIP_L.full | dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                            num_attention_heads=20, hidden_act="gelu", projection_dim=1280),
    tiny=CLIP_L.tiny | dict(hidden_act="gelu"),
)

# google/umt5-xxl encoder (Wan 2.1 text_encoder): the T5-XXL shape with a 256 k vocabulary, 5.68 B parameters.
UMT5_XXL = Component(
    "transformers",
    "UMT5EncoderModel",
    config_cls="UMT5Config",
    full=T5_XXL.full | dict(vocab_size=256384),
    tiny=T5_XXL.tiny,
)

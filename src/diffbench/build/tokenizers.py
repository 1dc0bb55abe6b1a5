"""Tokenizers built locally (no hub): a `tokenizers` WordLevel model wrapped in PreTrainedTokenizerFast.

The special-token ids follow the real T5 layout (pad 0, eos 1, unk 2) and the text-encoder configs in
`diffbench.models.parts` use the same ids, so pooled CLIP outputs and T5 masks behave as with real weights.
"""

from __future__ import annotations

from tokenizers import Tokenizer as _Tokenizer
from tokenizers import normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

from diffbench.spec.models.parts import BOS_ID, EOS_ID, PAD_ID, TINY_VOCAB, UNK_ID
from diffbench.spec.models.spec import Tokenizer

SPECIALS = {"<pad>": PAD_ID, "</s>": EOS_ID, "<unk>": UNK_ID, "<s>": BOS_ID}

# The words the suite's prompts use (default prompt sets and the procedural captions), plus digits.
WORDS = sorted(set("""
a an the of on in with and at to by under over above below beside near next behind front left right top bottom
center middle corner one two three four five six seven eight nine ten zero many few several single pair group
red green blue yellow orange purple pink brown black white gray grey cyan magenta gold silver
circle circles square squares triangle triangles star stars ring rings line lines stripe stripes dot dots
cross crosses heart hearts diamond diamonds rectangle rectangles shape shapes background
small large big tiny huge bright dark light pale vivid striped checkered plain
photo photograph painting drawing illustration render portrait landscape close up view detailed high quality
cat cats dog dogs bird birds fish horse astronaut robot person woman man child tree trees flower flowers
house city street mountain mountains lake river sea ocean beach forest sky sun moon cloud clouds snow rain
night day sunset sunrise morning evening wearing holding riding sitting standing flying swimming surfing
car bicycle boat ship train plane rocket space planet star galaxy neon lights glass water fire ice stone
wooden metal golden cup coffee table chair window door book hat helmet suit dress
cinematic lighting sharp focus 4k 8k hd colorful vintage modern futuristic ancient old new
is are as that this very
""".split()) | {str(i) for i in range(100)})


def build(spec: Tokenizer) -> PreTrainedTokenizerFast:
    vocab = dict(SPECIALS)
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    assert len(vocab) <= TINY_VOCAB, "the tiny text encoders' vocab_size must cover the local vocabulary"
    tok = _Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if spec.kind == "clip":  # CLIP wraps text in <start> ... <end>
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", BOS_ID), ("</s>", EOS_ID)]
        )
    else:  # T5 appends </s>
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", EOS_ID)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="<s>" if spec.kind == "clip" else None,
        model_max_length=spec.max_length,
        padding_side="right",
    )

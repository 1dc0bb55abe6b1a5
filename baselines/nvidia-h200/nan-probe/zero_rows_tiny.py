"""How many rows of the text context each model's denoiser attends to are all zero, on the tiny pipelines (CPU, one step,
the model's own call with one prompt). tests/test_models.py checks the same against spec.zero_context_rows.

    python zero_rows_tiny.py > zero_rows_tiny.txt
"""

import torch
from diffbench.build.sources import weights_source
from diffbench.build.built import BuildOptions
from diffbench.build.pipelines import build
from diffbench.spec import prompts
from diffbench.spec.matrix import Scenario
from diffbench.spec.models import MODELS

src = weights_source("tiny")
for name in MODELS:
    built = build(Scenario(name, "bf16", "eager"), BuildOptions(src, "cpu"))
    pipe, spec = built.pipe, built.scenario.spec
    den = getattr(pipe, spec.denoiser)
    seen = {}
    def hook(mod, args, kwargs):
        ctx = kwargs.get("encoder_hidden_states")
        if ctx is None and len(args) > 2: ctx = args[2]
        if torch.is_tensor(ctx) and "n" not in seen:
            rows = ctx.reshape(-1, ctx.shape[-1])
            seen["n"] = (int((rows.abs().amax(-1) == 0).sum()), rows.shape[0])
    den.register_forward_pre_hook(hook, with_kwargs=True)
    kw = src.inputs(spec).call_kwargs(prompts.for_batch(1), 1)
    try:
        pipe(**kw, output_type="latent", generator=torch.Generator("cpu").manual_seed(0))
    except Exception as e:
        print(name, "error", type(e).__name__, str(e)[:100])
    print(name, "all-zero context rows / rows:", seen.get("n"), "force_zeros_for_empty_prompt:",
          getattr(pipe.config, "force_zeros_for_empty_prompt", None))

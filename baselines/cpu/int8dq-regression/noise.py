import sys, torch
# diffusers' randn_tensor for the proxy: shape (1, 4, 16, 16), bf16, one CPU generator per prompt seeded 0 + i
torch.save([torch.randn((1, 4, 16, 16), generator=torch.Generator("cpu").manual_seed(i), dtype=torch.bfloat16) for i in range(4)], sys.argv[1])

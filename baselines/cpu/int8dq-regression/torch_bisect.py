"""Per torch version: the minimal reproduction (bf16 CPU randn stream), int8 matmul exactness, CPU capability."""
import os, torch
print(f"== torch {torch.__version__}  ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '(unset)')}  "
      f"capability in use: {torch.backends.cpu.get_cpu_capability()}  amx_tile: {torch.cpu._is_amx_tile_supported()}  "
      f"vnni: {torch.cpu._is_vnni_supported()}")
for line in torch.__config__.show().splitlines():
    if "CPU capability" in line:
        print("  __config__:", line.strip())
# the minimal reproduction: the proxy's initial latents for prompt 3 (seed 2), as diffusers draws them
g = lambda: torch.Generator("cpu").manual_seed(2)
bf16 = torch.randn(1, 4, 16, 16, generator=g(), dtype=torch.bfloat16)
f32 = torch.randn(1, 4, 16, 16, generator=g()).bfloat16()
print("  repro: bf16 randn[:3] =", bf16.flatten()[:3].tolist(), "| bf16 stream == float32 stream rounded:", torch.equal(bf16, f32),
      "| max |bf16 - f32 rounded| =", (bf16.float() - f32.float()).abs().max().item())
big = torch.randn(1 << 20, generator=g(), dtype=torch.bfloat16).float()
print(f"  2^20 bf16 samples: min {big.min().item():.3f} max {big.max().item():.3f} std {big.std().item():.4f}")
# torchao's CPU int8dq matmul on this machine (AMX): s8s8 torch._int_mm, exact against float64 at the proxy's shapes
bad = 0
for m in (1, 16, 64, 80, 256):
    for k, n in ((192, 192), (192, 768), (768, 192), (960, 192)):
        a = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=g())
        b = torch.randint(-128, 128, (n, k), dtype=torch.int8, generator=g()).t()
        bad += int((torch._int_mm(a, b).double() != a.double() @ b.double()).sum())
print("  torch._int_mm s8s8 vs float64, 20 shapes (M in 1..256, K,N in 192..960): wrong elements =", bad)

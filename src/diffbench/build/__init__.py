"""build: the only place models are made or changed. Weights → pipeline → quantize → fuse → offload → attention
→ compile, each step applying one dimension of a `spec` scenario; the pipeline cache; torch fixes."""

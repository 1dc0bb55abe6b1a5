"""Trained proxy models: small FLUX-architecture pipeline and CLIP trained on procedural scenes, shipped in
the package so the quality gates judge real behaviour with no download."""

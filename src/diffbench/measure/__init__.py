"""measure: takes a built pipeline and measures it (time, memory, the denoiser floor, quality, serialization and
quantization cost) and this machine (environment, capabilities, known-failure probes)."""

"""diffbench: a pytest benchmark and regression suite for diffusers pipelines, torchao and torch.compile."""

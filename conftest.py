"""This repository's own pytest configuration. The diffbench options, hooks and fixtures come from the installed
plugin (`diffbench.pytest_plugin`, registered through the `pytest11` entry point in pyproject.toml)."""

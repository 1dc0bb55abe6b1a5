"""The pytest plugin (registered as `diffbench` through the `pytest11` entry point): options, hooks, fixtures,
pytest-xdist support. The only part of diffbench that imports pytest."""

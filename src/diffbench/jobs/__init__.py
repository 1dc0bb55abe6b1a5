"""jobs: the commands that build and measure outside pytest (`diffbench-jobs ...`): training and evaluating the
proxy, the quality gates' mutation runs, the FP8 attention probe. The top layer, beside the pytest plugin: they
wire spec, build and measure as the plugin does, and nothing below imports them."""

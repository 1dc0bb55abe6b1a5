# Sourced by a GPU command: install the carried wheels (.whl/, from ../shared/gpu/wheels.sh) and diffbench itself
# as a user installs it (its pytest11 entry point is what loads the plugin), then say where it runs.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD/tools || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --upgrade --target /tmp/site . || exit 1
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader; grep -m1 'model name' /proc/cpuinfo; nproc

"""One script per measured row, each run as a subprocess by ../run.py in its own environment.

The scripts are named after the frameworks they measure, so they are run with `python -P` (the
script's folder is not put on sys.path, where `txtai.py` would hide the real txtai) and import the
shared harness as `peers.taskkit` with benchmarks/ on PYTHONPATH.
"""

"""`python prune.py ...` in a checkout: the `sketchjax-prune` command (`sketchjax.cli.prune`)."""
import sys

from sketchjax.cli.prune import main

if __name__ == "__main__":
    sys.exit(main(prog="prune.py"))

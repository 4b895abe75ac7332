"""`python train.py ...` in a checkout: the `sketchjax-train` command (`sketchjax.cli.train`)."""
import sys

from sketchjax.cli.train import main

if __name__ == "__main__":
    sys.exit(main(prog="train.py"))

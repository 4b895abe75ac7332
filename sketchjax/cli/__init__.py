"""The commands: `sketchjax-prune` (`prune`) and `sketchjax-train` (`train`); each module's
`main(argv)` only parses flags and calls the library. `sketchjax-experiments` is
`sketchjax.experiments.run`."""

"""Test-wide settings: the command-line tools' persistent compilation cache goes to a
temporary folder, never to the user's ~/.cache."""
import os
import tempfile

os.environ.setdefault("SKETCHJAX_COMPILE_CACHE",
                      os.path.join(tempfile.mkdtemp(prefix="sketchjax-test-"), "jax-compile"))

"""The package version and the versions record stored with every mask and run."""
from __future__ import annotations

__version__ = "0.1.0"


def versions() -> dict[str, str]:
    """{"sketchjax", "jax", "flax", "optax"}: the versions that made a mask or a run."""
    import flax
    import jax
    import optax

    return {"sketchjax": __version__, "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__}

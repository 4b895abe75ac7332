"""The one place that imports neural-tangents (0.6.5, on jax 0.5.3).

neural-tangents 0.6.5 reads `jax.interpreters.ad.source_info_util` and
`jax.interpreters.ad.config`, which jax 0.5.3 no longer re-exports there; its
STRUCTURED_DERIVATIVES implementation fails without the two aliases below.
Its `NtkImplementation.AUTO` is broken on this stack: always name an implementation.
Importing neural-tangents imports TensorFlow, which is why `sketchjax` never imports this.
"""
from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter

import jax  # noqa: E402
import jax.extend  # noqa: E402
import jax.interpreters.ad  # noqa: E402

if not hasattr(jax.interpreters.ad, "source_info_util"):
    jax.interpreters.ad.source_info_util = jax.extend.source_info_util
if not hasattr(jax.interpreters.ad, "config"):  # read as ad.config.jax_enable_checks
    jax.interpreters.ad.config = jax.config

with warnings.catch_warnings():  # its imports of jax.core names deprecated in jax 0.5
    warnings.simplefilter("ignore", DeprecationWarning)
    try:  # neural-tangents imports TensorFlow: keep TensorFlow off the GPUs JAX uses
        import tensorflow as _tf  # noqa: E402
        _tf.config.set_visible_devices([], "GPU")
    except Exception:  # noqa: BLE001 - no TensorFlow, or devices already initialised
        pass
    import neural_tangents as nt  # noqa: E402
    from neural_tangents import stax  # noqa: E402

JACOBIAN_CONTRACTION = nt.NtkImplementation.JACOBIAN_CONTRACTION
STRUCTURED_DERIVATIVES = nt.NtkImplementation.STRUCTURED_DERIVATIVES
NTK_VECTOR_PRODUCTS = nt.NtkImplementation.NTK_VECTOR_PRODUCTS

IMPLEMENTATIONS = {
    "jacobian_contraction": JACOBIAN_CONTRACTION,
    "structured_derivatives": STRUCTURED_DERIVATIVES,
    "ntk_vector_products": NTK_VECTOR_PRODUCTS,
}


def empirical_ntk_fn(apply_fn, implementation: str = "structured_derivatives",
                     trace_axes=(-1,), vmap_axes=0):
    """`nt.empirical_ntk_fn` with an explicit implementation (never AUTO).

    Args:
      apply_fn: f(params, x) -> outputs (batch, outputs).
      implementation: a key of IMPLEMENTATIONS.
      trace_axes: output axes traced over; () keeps them, giving (n1, n2, out, out).
      vmap_axes: the batch axis of inputs and outputs.

    Returns:
      ntk(x1, x2, params) -> the empirical NTK J(x1) J(x2)^T (no 1/width factor).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown NTK implementation {implementation!r}; "
                         f"valid: {', '.join(IMPLEMENTATIONS)}")
    return nt.empirical_ntk_fn(apply_fn, trace_axes=tuple(trace_axes), vmap_axes=vmap_axes,
                               implementation=IMPLEMENTATIONS[implementation])


__all__ = ["nt", "stax", "empirical_ntk_fn", "IMPLEMENTATIONS", "JACOBIAN_CONTRACTION",
           "STRUCTURED_DERIVATIVES", "NTK_VECTOR_PRODUCTS"]

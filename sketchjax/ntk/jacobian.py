"""Jacobian column norms and Jacobian products, pytree-native and chunked over examples.

J(theta) = d f(X) / d theta has one row per (example, output) and one column per parameter.
The squared column norm of parameter k is ||J^(k)||^2 = sum over examples and outputs of
(d f / d theta_k)^2. `column_sq_norms` computes it from per-example reverse-mode Jacobians,
`batch_size` examples at a time, accumulated in a `lax.scan`: memory is one chunk of
per-example gradients plus one params-shaped accumulator, whatever the number of examples.
(`jax.lax.map(f, xs, batch_size=b)` vmaps the same way but stacks every example's output,
n x |theta| numbers; the scan sums them instead.) `column_sq_norms_flat` materialises the full
flattened Jacobian with `jax.jacrev` and is the test oracle.

`apply_fn(params, x) -> outputs` takes a batch x (B, ...) and returns (B, ...); it is a static
argument of the jitted functions here, so pass the same callable (e.g. `module.apply` wrapped
once) to reuse compilations. No neural-tangents import here.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

PyTree = Any
ApplyFn = Callable[[PyTree, jax.Array], jax.Array]

__all__ = ["column_sq_norms", "column_sq_norms_flat", "jacobian_sq_frobenius",
           "jacobian_diff_sq_frobenius", "jvp_outputs", "chunked_sum"]


def _tree_add(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree.map(jnp.add, a, b)


def chunked_sum(fn: Callable[[jax.Array], PyTree], xs: jax.Array, batch_size: int) -> PyTree:
    """sum_i fn(xs[i]) for a per-example fn returning a pytree; `batch_size` examples vmapped.

    Full chunks go through a `lax.scan` that accumulates the sum; a last partial chunk (when
    batch_size does not divide the count) is vmapped on its own, so nothing is padded.
    """
    n = xs.shape[0]
    batch_size = max(1, min(int(batch_size), n))
    num_full = n // batch_size

    def chunk_total(chunk):
        return jax.tree.map(lambda a: jnp.sum(a, axis=0), jax.vmap(fn)(chunk))

    total = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, xs[0]))
    if num_full:
        chunks = jnp.reshape(xs[:num_full * batch_size], (num_full, batch_size) + xs.shape[1:])
        total, _ = jax.lax.scan(lambda acc, c: (_tree_add(acc, chunk_total(c)), None),
                                total, chunks)
    if num_full * batch_size < n:
        total = _tree_add(total, chunk_total(xs[num_full * batch_size:]))
    return total


def _example_jacobian(apply_fn: ApplyFn, params: PyTree, x: jax.Array) -> PyTree:
    # d f(x) / d params for one example: leaves (outputs, *leaf.shape).
    return jax.jacrev(lambda p: jnp.ravel(apply_fn(p, x[None])))(params)


@functools.partial(jax.jit, static_argnames=("apply_fn", "batch_size"))
def column_sq_norms(apply_fn: ApplyFn, params: PyTree, xs: jax.Array,
                    batch_size: int = 8) -> PyTree:
    """Squared Jacobian column norms ||J^(k)||^2, shaped like params.

    Args:
      apply_fn: f(params, x (B, ...)) -> outputs (B, ...).
      params: the parameter pytree theta.
      xs: (n, ...) the examples.
      batch_size: examples whose per-example Jacobians are held at once.

    Returns:
      A pytree like params: for each parameter, the sum over examples and outputs of
      (d f / d theta_k)^2. Summed over all leaves it is trace(J J^T), the trace of the
      empirical NTK over examples and outputs.
    """
    def per_example(x):
        return jax.tree.map(lambda j: jnp.sum(jnp.square(j), axis=0),
                            _example_jacobian(apply_fn, params, x))
    return chunked_sum(per_example, xs, batch_size)


@functools.partial(jax.jit, static_argnames=("apply_fn",))
def column_sq_norms_flat(apply_fn: ApplyFn, params: PyTree, xs: jax.Array) -> PyTree:
    """The oracle: the full flattened Jacobian (n * outputs, |theta|) by `jax.jacrev`, squared
    and summed over rows, unflattened like params. Memory n * outputs * |theta|."""
    flat, unravel = ravel_pytree(params)
    jac = jax.jacrev(lambda v: jnp.ravel(apply_fn(unravel(v), xs)))(flat)
    return unravel(jnp.sum(jnp.square(jac), axis=0))


@functools.partial(jax.jit, static_argnames=("apply_fn", "batch_size"))
def jacobian_sq_frobenius(apply_fn: ApplyFn, params: PyTree, xs: jax.Array,
                          batch_size: int = 8) -> jax.Array:
    """||J(theta)||_F^2, chunked over examples (a scalar)."""
    def per_example(x):
        jac = _example_jacobian(apply_fn, params, x)
        return sum(jnp.sum(jnp.square(j)) for j in jax.tree.leaves(jac))
    return chunked_sum(per_example, xs, batch_size)


@functools.partial(jax.jit, static_argnames=("apply_fn", "batch_size"))
def jacobian_diff_sq_frobenius(apply_fn: ApplyFn, params_a: PyTree, params_b: PyTree,
                               xs: jax.Array, batch_size: int = 8) -> jax.Array:
    """||J(theta_a) - J(theta_b)||_F^2, chunked over examples (a scalar)."""
    def per_example(x):
        diff = jax.tree.map(jnp.subtract, _example_jacobian(apply_fn, params_a, x),
                            _example_jacobian(apply_fn, params_b, x))
        return sum(jnp.sum(jnp.square(j)) for j in jax.tree.leaves(diff))
    return chunked_sum(per_example, xs, batch_size)


def jvp_outputs(apply_fn: ApplyFn, params: PyTree, tangent: PyTree, xs: jax.Array) -> jax.Array:
    """J(theta) v as outputs shaped like apply_fn(params, xs), by forward mode (no Jacobian)."""
    return jax.jvp(lambda p: apply_fn(p, xs), (params,), (tangent,))[1]

"""An MLP in NTK parameterisation (Flax) and the matching neural-tangents `stax` kernel.

NTK parameterisation, as `stax.Dense(..., parameterization="ntk")`: every weight and bias is
drawn from N(0, 1) and a layer computes  W_std / sqrt(fan_in) * x @ W + b_std * b.
`NTKMLP(widths=(N, N))` is Dense(N) -> act -> Dense(N) -> act -> Dense(out); `stax_mlp` with
the same arguments builds the infinite-width kernel of that network, so the empirical NTK of
the Flax model at init tends to `analytic_ntk` as the widths grow.
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = ("relu", "erf")

__all__ = ["NTKDense", "NTKMLP", "stax_mlp", "analytic_ntk", "ACTIVATIONS"]


class NTKDense(nn.Module):
    """Dense layer in NTK parameterisation: W_std/sqrt(fan_in) x @ kernel + b_std bias."""
    features: int
    w_std: float = math.sqrt(2.0)
    b_std: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (B, fan_in) -> (B, features)."""
        kernel = self.param("kernel", nn.initializers.normal(1.0), (x.shape[-1], self.features))
        y = (self.w_std / math.sqrt(x.shape[-1])) * (x @ kernel)
        if self.b_std:
            bias = self.param("bias", nn.initializers.normal(1.0), (self.features,))
            y = y + self.b_std * bias
        return y


class NTKMLP(nn.Module):
    """Flatten, then [NTKDense(width), activation] per width, then NTKDense(outputs).

    Attributes:
      widths: hidden widths, e.g. (1024, 1024).
      outputs: output dimension.
      w_std, b_std: weight and bias standard deviations (b_std = 0: no biases at all).
      activation: "relu" or "erf".
    """
    widths: Sequence[int] = (512, 512)
    outputs: int = 1
    w_std: float = math.sqrt(2.0)
    b_std: float = 0.1
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (B, ...) -> (B, outputs)."""
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; valid: {ACTIVATIONS}")
        act = jax.nn.relu if self.activation == "relu" else jax.scipy.special.erf
        x = jnp.reshape(x, (x.shape[0], -1))
        for width in self.widths:
            x = act(NTKDense(width, self.w_std, self.b_std)(x))
        return NTKDense(self.outputs, self.w_std, self.b_std)(x)


def stax_mlp(widths: Sequence[int] = (512, 512), outputs: int = 1, w_std: float = math.sqrt(2.0),
             b_std: float = 0.1, activation: str = "relu"):
    """The `stax` network matching `NTKMLP(widths, outputs, w_std, b_std, activation)`.

    Returns:
      (init_fn, apply_fn, kernel_fn) of `neural_tangents.stax.serial`; kernel_fn(x1, x2, "ntk")
      is the analytic (infinite-width) NTK.
    """
    from sketchjax.ntk._compat import stax  # neural-tangents (and TensorFlow) only when asked for
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid: {ACTIVATIONS}")
    act = stax.Relu() if activation == "relu" else stax.Erf()
    b = b_std if b_std else None
    layers = []
    for width in widths:
        layers += [stax.Dense(width, W_std=w_std, b_std=b, parameterization="ntk"), act]
    layers.append(stax.Dense(outputs, W_std=w_std, b_std=b, parameterization="ntk"))
    return stax.serial(stax.Flatten(), *layers)


def analytic_ntk(x1: jax.Array, x2: jax.Array | None = None, *, depth: int = 2,
                 w_std: float = math.sqrt(2.0), b_std: float = 0.1,
                 activation: str = "relu") -> jax.Array:
    """The infinite-width NTK of an NTKMLP with `depth` hidden layers: (n1, n2).

    The widths do not matter at infinite width; the kernel is per output (the same for every
    output, zero between different outputs).
    """
    _, _, kernel_fn = stax_mlp((1,) * depth, 1, w_std, b_std, activation)
    return kernel_fn(x1, x2, "ntk")

"""Fully connected models: LeNet-300-100 and the bias-free linear model of the theory."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

# Untruncated kaiming normal, std sqrt(2 / fan_in), as the references (he_normal is truncated).
KAIMING_NORMAL = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class LeNet300100(nn.Module):
    """Flatten any input, Dense 300, ReLU, Dense 100, ReLU, Dense C (all with bias).

    266,610 params for 28x28x1 inputs and 10 classes. `train` is accepted and ignored.
    """
    num_classes: int = 10
    hidden: Sequence[int] = (300, 100)

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        """x: (B, ...) -> logits (B, num_classes)."""
        x = jnp.reshape(x, (x.shape[0], -1))
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, kernel_init=KAIMING_NORMAL,
                                 bias_init=nn.initializers.zeros)(x))
        return nn.Dense(self.num_classes, kernel_init=KAIMING_NORMAL,
                        bias_init=nn.initializers.zeros)(x)


class LinearModel(nn.Module):
    """x -> w.x with no bias: flatten the input, Dense(1, use_bias=False).

    d = prod(input shape) params, all prunable (the kernel is (d, 1)). Output (B, 1).
    `train` is accepted and ignored.
    """

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        """x: (B, ...) -> (B, 1)."""
        x = jnp.reshape(x, (x.shape[0], -1))
        return nn.Dense(1, use_bias=False, kernel_init=KAIMING_NORMAL)(x)


def lenet_300_100(num_classes: int = 10) -> LeNet300100:
    """LeNet-300-100: 266,610 params for 28x28x1 inputs and 10 classes."""
    return LeNet300100(num_classes=num_classes)


def linear(num_classes: int = 1) -> LinearModel:
    """The linear model x -> w.x. Its output is always (B, 1): `num_classes` is ignored."""
    del num_classes
    return LinearModel()

"""ResNets: CIFAR ResNet-20 / WRN-20-32 (OpenLTH) and Tiny-ImageNet ResNet-18 (SynFlow's).

Flax Linen, NHWC. Convs pad like PyTorch (1 on each side for 3x3), not flax's "SAME", which
pads stride-2 convs asymmetrically. BatchNorm uses PyTorch's momentum 0.1 (flax 0.9) and eps
1e-5; note flax keeps the biased batch variance as running variance, PyTorch the unbiased one.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from sketchjax.errors import SketchjaxError

Initializer = Callable[..., jax.Array]

# Untruncated kaiming normal (flax's he_normal is truncated).
KAIMING_NORMAL_FAN_IN = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
KAIMING_NORMAL_FAN_OUT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
# PyTorch's default nn.Linear weight init: uniform(+-1/sqrt(fan_in)).
TORCH_LINEAR_KERNEL = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_linear_bias(fan_in: int) -> Initializer:
    """PyTorch's default nn.Linear bias init: uniform(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _batch_norm(train: bool) -> nn.Module:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU. Convs have no bias.

    The shortcut is the identity, or a 1x1 conv (stride `strides`, no bias) + BN when the
    shape changes (stride > 1 or a new width).
    """
    features: int
    strides: int = 1
    conv_init: Initializer = KAIMING_NORMAL_FAN_IN

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        conv = functools.partial(nn.Conv, use_bias=False, kernel_init=self.conv_init)
        y = conv(self.features, (3, 3), strides=self.strides, padding=1)(x)
        y = nn.relu(_batch_norm(train)(y))
        y = conv(self.features, (3, 3), strides=1, padding=1)(y)
        y = _batch_norm(train)(y)
        if self.strides != 1 or x.shape[-1] != self.features:
            x = conv(self.features, (1, 1), strides=self.strides, padding=0)(x)
            x = _batch_norm(train)(x)
        return nn.relu(y + x)


class CifarResNet(nn.Module):
    """OpenLTH's CIFAR ResNet: stem conv3x3 (no bias)-BN-ReLU, stages of BasicBlocks
    (stride 2 at the start of every stage but the first), global avg-pool, Dense with bias.

    All kernels kaiming normal (fan_in, untruncated), biases 0.
    `CifarResNet(widths=(16, 32, 64))` is ResNet-20 (272,474 params for 10 classes);
    `widths=(32, 64, 128)` is WRN-20-32 (1,084,586).
    """
    num_classes: int = 10
    widths: Sequence[int] = (16, 32, 64)
    blocks_per_stage: int = 3

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        """x: (B, H, W, C) -> logits (B, num_classes)."""
        x = nn.Conv(self.widths[0], (3, 3), padding=1, use_bias=False,
                    kernel_init=KAIMING_NORMAL_FAN_IN)(x)
        x = nn.relu(_batch_norm(train)(x))
        for stage, width in enumerate(self.widths):
            for block in range(self.blocks_per_stage):
                strides = 2 if stage > 0 and block == 0 else 1
                x = BasicBlock(width, strides, KAIMING_NORMAL_FAN_IN)(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, kernel_init=KAIMING_NORMAL_FAN_IN,
                        bias_init=nn.initializers.zeros)(x)


class ResNet18(nn.Module):
    """Tiny-ImageNet ResNet-18 (SynFlow's `tinyimagenet_resnet`), with a width multiplier.

    Stem conv3x3 stride 1 (no bias, no 7x7, no max-pool)-BN-ReLU; stages of 2 BasicBlocks
    of widths (64, 128, 256, 512) x `width_multiplier`, strides 1/2/2/2; global avg-pool;
    Dense. Init as the reference: convs kaiming normal with fan_out (untruncated, std
    sqrt(2/fan_out)); BN scale 1, bias 0; classifier weight and bias PyTorch's default
    uniform(+-1/sqrt(fan_in)). 11,271,432 params for 200 classes at width 1.
    """
    num_classes: int = 200
    width_multiplier: float = 1
    blocks_per_stage: Sequence[int] = (2, 2, 2, 2)

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        """x: (B, H, W, C) -> logits (B, num_classes)."""
        widths = [int(round(w * self.width_multiplier)) for w in (64, 128, 256, 512)]
        x = nn.Conv(widths[0], (3, 3), padding=1, use_bias=False,
                    kernel_init=KAIMING_NORMAL_FAN_OUT)(x)
        x = nn.relu(_batch_norm(train)(x))
        for stage, (width, blocks) in enumerate(zip(widths, self.blocks_per_stage)):
            for block in range(blocks):
                strides = 2 if stage > 0 and block == 0 else 1
                x = BasicBlock(width, strides, KAIMING_NORMAL_FAN_OUT)(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, kernel_init=TORCH_LINEAR_KERNEL,
                        bias_init=torch_linear_bias(x.shape[-1]))(x)


def resnet20(num_classes: int = 10) -> CifarResNet:
    """CIFAR ResNet-20, widths 16/32/64: 272,474 params for 10 classes."""
    return CifarResNet(num_classes=num_classes, widths=(16, 32, 64))


def wide_resnet20(num_classes: int = 10) -> CifarResNet:
    """CIFAR WRN-20-32, widths 32/64/128: 1,084,586 params for 10 classes."""
    return CifarResNet(num_classes=num_classes, widths=(32, 64, 128))


def resnet18(num_classes: int = 200) -> ResNet18:
    """Tiny-ImageNet ResNet-18: 11,271,432 params for 200 classes."""
    return ResNet18(num_classes=num_classes, width_multiplier=1)


def wide_resnet18(num_classes: int = 200, width_multiplier: float = 2) -> ResNet18:
    """ResNet-18 with every width times `width_multiplier` (ours; default 2).

    The reference's (SynFlow's) "wide-resnet18" is accidentally identical to resnet18: it
    builds the same [2, 2, 2, 2] BasicBlock net with the same widths. Ours really widens it;
    `width_multiplier=1` gives the reference's (= resnet18).
    """
    if not (isinstance(width_multiplier, (int, float)) and width_multiplier > 0
            and round(64 * width_multiplier) >= 1):
        raise SketchjaxError(
            f"width_multiplier must be a positive number; got {width_multiplier!r}")
    return ResNet18(num_classes=num_classes, width_multiplier=width_multiplier)

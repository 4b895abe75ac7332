"""VGG-19 for 32x32 inputs (OpenLTH's `cifar_vgg_19` / `cifar_vgg_19_bn`), Flax Linen, NHWC."""
from __future__ import annotations

import functools
from typing import Sequence, Union

import flax.linen as nn
import jax.numpy as jnp

from sketchjax.errors import SketchjaxError
from sketchjax.models import layers

# Kaiming normal, untruncated, std sqrt(2 / fan_in) (PyTorch's kaiming_normal_ as OpenLTH uses
# it); flax's he_normal is a truncated normal and would give a smaller std.
KAIMING_NORMAL = nn.initializers.variance_scaling(2.0, "fan_in", "normal")

# Numbers are conv widths, "M" a 2x2 max-pool. No final "M": the 2x2 map left for a 32x32
# input goes through a 2x2 average pool instead.
VGG19_CONFIG: tuple[Union[int, str], ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512)


class VGG(nn.Module):
    """VGG: 3x3 convs with bias (+ BatchNorm) + ReLU, max-pools, 2x2 avg-pool, Dense(C).

    For a 32x32 input the last feature map is 2x2, so the avg-pool leaves 1x1 and the
    classifier is Dense(512 -> C), exactly the reference. Larger inputs are averaged over
    the remaining positions after the 2x2 pool, so the classifier stays Dense(512 -> C).

    Attributes:
      num_classes: width of the logits.
      batch_norm: put a BatchNorm (PyTorch momentum 0.1, eps 1e-5) after each conv.
      config: conv widths and "M" max-pools.
    """
    num_classes: int = 10
    batch_norm: bool = True
    config: Sequence[Union[int, str]] = VGG19_CONFIG

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        """x: (B, H, W, C) with H, W >= 32 -> logits (B, num_classes)."""
        if x.ndim != 4 or min(x.shape[1:3]) < 32:
            raise SketchjaxError(
                f"VGG needs image inputs (B, H, W, C) with H, W >= 32; got {x.shape}")
        bn = functools.partial(nn.BatchNorm, use_running_average=not train,
                               momentum=0.9, epsilon=1e-5)
        for v in self.config:
            if v == "M":
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            else:
                x = nn.Conv(int(v), (3, 3), padding=1, use_bias=True,
                            kernel_init=KAIMING_NORMAL, bias_init=nn.initializers.zeros,
                            conv_general_dilated=layers.conv_general_dilated)(x)
                if self.batch_norm:
                    x = bn()(x)
                x = nn.relu(x)
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = jnp.mean(x, axis=(1, 2))  # a no-op reshape for 32x32 inputs (1x1 left)
        return nn.Dense(self.num_classes, kernel_init=KAIMING_NORMAL,
                        bias_init=nn.initializers.zeros)(x)


def vgg19_bn(num_classes: int = 10) -> VGG:
    """VGG-19 with BatchNorm: 20,040,522 params for 10 classes."""
    return VGG(num_classes=num_classes, batch_norm=True)


def vgg19(num_classes: int = 10) -> VGG:
    """VGG-19 without BatchNorm: 20,029,514 params for 10 classes."""
    return VGG(num_classes=num_classes, batch_norm=False)

"""The model zoo: VGG-19 (+BN), CIFAR ResNet-20 / WRN-20-32, Tiny-ImageNet ResNet-18,
LeNet-300-100 and the linear model, by name."""
from sketchjax.models.mlp import LeNet300100, LinearModel, lenet_300_100, linear
from sketchjax.models.registry import (MODEL_NAMES, ModelBundle, ModelSpec, abstract_model,
                                       create_model, init_model, model_spec)
from sketchjax.models.resnet import (BasicBlock, CifarResNet, ResNet18, resnet18, resnet20,
                                     wide_resnet18, wide_resnet20)
from sketchjax.models.vgg import VGG, vgg19, vgg19_bn

__all__ = [
    "MODEL_NAMES", "ModelBundle", "ModelSpec", "abstract_model", "create_model", "init_model",
    "model_spec",
    "VGG", "vgg19", "vgg19_bn",
    "BasicBlock", "CifarResNet", "ResNet18", "resnet18", "resnet20", "wide_resnet18",
    "wide_resnet20",
    "LeNet300100", "LinearModel", "lenet_300_100", "linear",
]

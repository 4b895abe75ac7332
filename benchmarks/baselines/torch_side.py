"""PyTorch equivalents of what the benchmarks time, for side-by-side runs (`side_by_side.py`).

    python benchmarks/baselines/torch_side.py train   --model resnet20 [--threads 2]
    python benchmarks/baselines/torch_side.py synflow --model vgg19_bn
    python benchmarks/baselines/torch_side.py snip    --model resnet20
    python benchmarks/baselines/torch_side.py grasp   --model resnet20

Prints one JSON line. The models are OpenLTH's CIFAR ResNet-20 and VGG-19-BN (the parameter
counts are checked against docs/methods.md), initialised as the references (kaiming normal,
fan_in). The tasks follow the reference implementations' semantics:
- train: SGD momentum 0.9, weight decay 1e-4, lr 0.1, batch 128 of one reused random batch,
  BatchNorm in training mode; 3 warm-up steps, then `--steps` timed steps (img/s). `--masked`
  multiplies every kernel by a fixed 10% mask in the forward pass, as the SynFlow code's
  masked layers do.
- synflow: 100 rounds, exponential schedule to density 0.1: signs removed from every
  parameter and buffer, an all-ones input of batch 1, scores |theta * dR/dtheta|, a global
  `torch.kthvalue` threshold over all scores, masks applied in place (the SynFlow authors'
  Pruner.score / global_mask / apply_mask).
- snip: one batch of 256 N(0,1) images, |theta * dL/dtheta| at mask 1, then the global mask.
- grasp: one batch of 256, logits / 200, g without a graph, Hg by a second, double-backward
  pass; scores theta * Hg (the largest kept), then the global mask.
Needs torch (`pip install -e ".[bench]"`; a CPU build is on the development machine).
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PARAMS = {"resnet20": 272_474, "vgg19_bn": 20_040_522}


class Block(nn.Module):
    def __init__(self, f_in: int, f_out: int, downsample: bool):
        super().__init__()
        stride = 2 if downsample else 1
        self.conv1 = nn.Conv2d(f_in, f_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(f_out)
        self.conv2 = nn.Conv2d(f_out, f_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(f_out)
        self.shortcut = nn.Sequential()
        if downsample or f_in != f_out:
            self.shortcut = nn.Sequential(nn.Conv2d(f_in, f_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(f_out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, f_in = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for i in range(3):
                blocks.append(Block(f_in, width, stage > 0 and i == 0))
                f_in = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class VGG19BN(nn.Module):
    CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512)

    def __init__(self, classes: int = 10):
        super().__init__()
        layers, f_in = [], 3
        for v in self.CONFIG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(f_in, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                f_in = v
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = F.avg_pool2d(self.features(x), 2)
        return self.fc(x.flatten(1))


def build(name: str) -> nn.Module:
    model = {"resnet20": ResNet20, "vgg19_bn": VGG19BN}[name]()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    count = sum(p.numel() for p in model.parameters())
    assert count == PARAMS[name], (name, count)
    return model


def kernels(model: nn.Module) -> list[torch.Tensor]:
    """The prunable parameters: every conv and linear weight."""
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def global_mask(scores: list[torch.Tensor], masks: list[torch.Tensor], density: float) -> None:
    """The reference's global_mask: prune int((1 - d) N) by torch.kthvalue, ties pruned."""
    flat = torch.cat([s.flatten() for s in scores])
    k = int((1.0 - density) * flat.numel())
    if k < 1:
        return
    threshold, _ = torch.kthvalue(flat, k)
    for score, mask in zip(scores, masks):
        mask.copy_(torch.where(score <= threshold, 0.0, 1.0))


def train_task(name: str, steps: int, masked: bool) -> dict:
    model = build(name).train()
    if masked:   # the reference's masked layers: weight * mask in every forward pass
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.register_buffer("weight_mask",
                                       (torch.rand_like(module.weight) < 0.1).float())
                module.forward = _masked_forward(module)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(128, 3, 32, 32)
    y = torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    return {"img_per_s": steps * 128 / seconds, "seconds": seconds, "steps": steps}


def _masked_forward(module):
    conv = isinstance(module, nn.Conv2d)

    def forward(x):
        w = module.weight * module.weight_mask
        if conv:
            return module._conv_forward(x, w, module.bias)
        return F.linear(x, w, module.bias)
    return forward


@torch.no_grad()
def _linearize(model: nn.Module) -> dict:
    signs = {}
    for name, param in model.state_dict().items():
        signs[name] = torch.sign(param)
        param.abs_()
    return signs


@torch.no_grad()
def _nonlinearize(model: nn.Module, signs: dict) -> None:
    for name, param in model.state_dict().items():
        param.mul_(signs[name])


def synflow_task(name: str, rounds: int = 100, density: float = 0.1) -> dict:
    model = build(name).eval()
    params = kernels(model)
    masks = [torch.ones_like(p) for p in params]
    start = time.perf_counter()
    for t in range(rounds):
        with torch.no_grad():
            for p, m in zip(params, masks):
                p.mul_(m)
        signs = _linearize(model)
        model.zero_grad()
        torch.sum(model(torch.ones(1, 3, 32, 32))).backward()
        scores = [torch.clone(p.grad * p).detach().abs_() for p in params]
        _nonlinearize(model, signs)
        global_mask(scores, masks, density ** ((t + 1) / rounds))
    seconds = time.perf_counter() - start
    kept = int(sum(m.sum() for m in masks))
    return {"seconds": seconds, "rounds": rounds, "kept": kept}


def _one_batch(name: str):
    """The model in eval mode, its kernels, all-ones masks and one N(0,1) batch of 256."""
    model = build(name).eval()
    params = kernels(model)
    masks = [torch.ones_like(p) for p in params]
    return model, params, masks, torch.randn(256, 3, 32, 32), torch.randint(0, 10, (256,))


def snip_task(name: str, density: float = 0.1) -> dict:
    model, params, masks, x, y = _one_batch(name)
    start = time.perf_counter()
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    scores = [torch.clone(p.grad * p).detach().abs_() for p in params]
    global_mask(scores, masks, density)
    return {"seconds": time.perf_counter() - start}


def grasp_task(name: str, density: float = 0.1, temperature: float = 200.0) -> dict:
    model, params, masks, x, y = _one_batch(name)
    start = time.perf_counter()
    model.zero_grad()
    loss = F.cross_entropy(model(x) / temperature, y)
    g = torch.autograd.grad(loss, params)
    loss = F.cross_entropy(model(x) / temperature, y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    z = sum((gi * gj.detach()).sum() for gi, gj in zip(grads, g))
    z.backward()
    scores = [torch.clone(p.grad * p).detach() for p in params]   # keep the largest theta * Hg
    global_mask(scores, masks, density)
    return {"seconds": time.perf_counter() - start}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=("train", "synflow", "snip", "grasp"))
    p.add_argument("--model", choices=tuple(PARAMS), default="resnet20")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--masked", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.task == "train":
        result = train_task(args.model, args.steps, args.masked)
    else:
        task = {"synflow": synflow_task, "snip": snip_task, "grasp": grasp_task}[args.task]
        # Untimed warm-up (one round of SynFlow), so that PyTorch's first-call costs stay out
        # of the timing as our compilation does; then a fresh model is timed.
        task(args.model, **({"rounds": 1} if args.task == "synflow" else {}))
        result = task(args.model)
    print(json.dumps({"side": "pytorch", "task": args.task, "model": args.model,
                      "threads": torch.get_num_threads(), "version": torch.__version__,
                      **result}))


if __name__ == "__main__":
    main()

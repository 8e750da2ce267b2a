"""Tiny models and a quick config shared by the attack engine's tests (tests/test_attack_*.py)."""

from __future__ import annotations

import torch
from torch import nn

from leaklib.attack import AttackConfig

SHAPE = (3, 8, 8)


class TinyConv(nn.Module):
    """conv-BN-ReLU-linear, 5 classes, on 3x8x8 images."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 5)
        self.num_classes = 5
        with torch.no_grad():  # non-trivial running statistics
            self.bn.running_mean.uniform_(-0.2, 0.2)
            self.bn.running_var.uniform_(0.5, 1.5)
        self.eval()

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


class TinyMLP(nn.Module):
    """Linear (with bias) first, then sigmoid and a linear head: Prop. 3.1 applies to the first layer."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1 = nn.Linear(3 * 8 * 8, 32)
        self.fc2 = nn.Linear(32, 5)
        self.num_classes = 5

    def forward(self, x):
        return self.fc2(torch.sigmoid(self.fc1(x.flatten(1))))


def batch(n: int = 2, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *SHAPE), generator=g) * 2 - 1, torch.randint(0, 5, (n,), generator=g)


def quick(**kw) -> AttackConfig:
    base = {"iterations": 12, "restarts": 1}
    base.update(kw)
    return AttackConfig(**base)

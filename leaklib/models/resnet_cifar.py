"""CIFAR ResNets (He et al. 2016, Sec. 4.2) with a width factor: ResNet20-4, ResNet32-10 of Inverting Gradients.

Depth 6n+2: a 3x3 stem, three stages of n BasicBlocks (stride 1, 2, 2) with 16w, 32w, 64w channels, global
average pooling and a linear layer. Shortcuts that change shape are 1x1 convolutions with batch norm
(option B). ``resnet20-4`` has stages of 64, 128, 256 channels (Inverting Gradients, Sec. 5).
"""

from __future__ import annotations

from torch import Tensor, nn

CIFAR_DEPTHS = (20, 32, 44, 56, 110)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 images with base width ``16 * width``."""

    def __init__(self, depth: int, width: int = 1, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        base = 16 * width
        self.conv1 = nn.Conv2d(in_channels, base, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU()
        stages, in_planes = [], base
        for i, stride in enumerate((1, 2, 2)):
            planes = base * 2**i
            blocks = [BasicBlock(in_planes, planes, stride)] + [BasicBlock(planes, planes) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            in_planes = planes
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.pool(x).flatten(1))

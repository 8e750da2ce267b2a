"""ImageNet-style ResNets (18/34/50/101/152) from torchvision's blocks, with a channel width factor.

torchvision's ``ResNet`` fixes 64 stem channels and stages of 64, 128, 256, 512 planes. For the width study of
Inverting Gradients (Sec. 5, ResNet-18 at widths x1/x2/x4), ``resnet18-2`` multiplies all of them by 2: stem
128 channels, stages 128, 256, 512, 1024 planes (Bottleneck blocks keep their 4x expansion). The module keeps
torchvision's layout and parameter names (conv1, bn1, layer1..4, fc), so at width 1 its state dict is
interchangeable with ``torchvision.models.resnetXX()`` and torchvision's ImageNet weights load into it.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models import resnet as tv

IMAGENET_ARCHS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (tv.BasicBlock, (2, 2, 2, 2)),
    34: (tv.BasicBlock, (3, 4, 6, 3)),
    50: (tv.Bottleneck, (3, 4, 6, 3)),
    101: (tv.Bottleneck, (3, 4, 23, 3)),
    152: (tv.Bottleneck, (3, 8, 36, 3)),
}


class ImageNetResNet(nn.Module):
    """torchvision's ResNet with every channel count scaled by ``width``."""

    def __init__(self, depth: int, width: int = 1, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        block, counts = IMAGENET_ARCHS[depth]
        self.inplanes = 64 * width
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64 * width, counts[0], 1)
        self.layer2 = self._make_layer(block, 128 * width, counts[1], 2)
        self.layer3 = self._make_layer(block, 256 * width, counts[2], 2)
        self.layer4 = self._make_layer(block, 512 * width, counts[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * width * block.expansion, num_classes)
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: type[nn.Module], planes: int, count: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                tv.conv1x1(self.inplanes, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion)
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, count)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))

"""The tiny backbone: a torchvision ``ResNet`` of ``BasicBlock`` s, one block per stage, for 32 px images.

The same modules as ResNet-50 (conv1, bn1, layer1..layer4, fc), so the same six groups: a 3x3 stride-1
stem with the usual max-pool, then one BasicBlock per stage at widths 16/32/64/128; for 32 px input,
layer1 runs at 16x16 and layer4 at 2x2. About 0.3 M parameters: it trains at about a thousand images a
second on one CPU core. Its pretrained weights ship in ``weights/tiny.pt`` (see ``weights/tiny.md``).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

WIDTHS = (16, 32, 64, 128)
IMAGE_SIZE = 32
"""The side it was pretrained at, and its default for every run."""
WEIGHTS_FILE = Path(__file__).with_name("weights") / "tiny.pt"
SOURCE = "generated fractals, tiny.pt"
"""What its shipped weights were pretrained on, for labels."""


class TinyResNet(ResNet):
    """ResNet with BasicBlocks [1, 1, 1, 1] at ``WIDTHS`` and a 3x3
    stride-1 stem; torchvision's forward. (Its lines fit the 68
    columns of an exported script, which copies it.)"""

    def __init__(self, num_classes: int = 1000) -> None:
        # ResNet.__init__ would build the 64..512 stages first
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation = WIDTHS[0], 1
        self.groups, self.base_width = 1, 64
        self.conv1 = nn.Conv2d(3, WIDTHS[0], kernel_size=3,
                               stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2,
                                    padding=1)
        self.layer1 = self._make_layer(BasicBlock, WIDTHS[0], 1)
        self.layer2 = self._make_layer(BasicBlock, WIDTHS[1], 1, 2)
        self.layer3 = self._make_layer(BasicBlock, WIDTHS[2], 1, 2)
        self.layer4 = self._make_layer(BasicBlock, WIDTHS[3], 1, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(WIDTHS[3], num_classes)
        for m in self.modules():  # as torchvision initialises one
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out",
                                        nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

"""The same Inception-lite written in PyTorch, for comparisons (tests and benchmarks only).

torch is imported inside the function: it is an optional oracle, never a dependency of the
package.  The module tree mirrors ``inception.py`` line for line, so both ``state_dict``s have the
same keys, shapes and buffers and weights can be copied across as numpy arrays.
"""


def torch_inception_lite(num_classes=10):
    import torch
    from torch import nn

    def conv_bn_relu(cin, cout, k):
        return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class Inception(nn.Module):
        def __init__(self, cin, b1, b2_reduce, b2, b3_reduce, b3, b4):
            super().__init__()
            self.b1 = conv_bn_relu(cin, b1, 1)
            self.b2 = nn.Sequential(conv_bn_relu(cin, b2_reduce, 1),
                                    conv_bn_relu(b2_reduce, b2, 3))
            self.b3 = nn.Sequential(conv_bn_relu(cin, b3_reduce, 1),
                                    conv_bn_relu(b3_reduce, b3, 5))
            self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_bn_relu(cin, b4, 1))

        def forward(self, x):
            return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)

    class InceptionLite(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                conv_bn_relu(1, 32, 3), nn.MaxPool2d(2),
                Inception(32, 16, 16, 24, 8, 8, 8), Inception(56, 32, 24, 48, 8, 16, 16),
                nn.MaxPool2d(2))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(112 * 7 * 7, 128), nn.ReLU(),
                                      nn.Dropout(0.25), nn.Linear(128, num_classes))

        def forward(self, x):
            return self.head(self.features(x))

    return InceptionLite()

"""Small models that `airgraph check` and `airgraph dump` load by MODULE:FACTORY in the tests."""

import torch


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 16)
        self.fc2 = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def mlp_with_inputs():
    return Mlp(), [torch.randn(2, 8)]


class Breaks(torch.nn.Module):
    def forward(self, x):
        y = x.sin()
        print("graph break here")
        return y.cos()


class Unsupported(torch.nn.Module):
    def forward(self, x):
        return torch.special.bessel_j0(x) + 1

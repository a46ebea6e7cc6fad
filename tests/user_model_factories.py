"""Factories for tests/test_user_model.py, imported by name as ``user_model_factories:<name>``."""
from torch import nn

NOT_CALLABLE = 3


def build_tiny() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5),
    )


def not_a_module():
    return {"model": build_tiny()}


def needs_arguments(num_classes):
    return build_tiny()

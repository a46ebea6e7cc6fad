"""Devices: benchmark and validate on a Raspberry Pi (ssh://), an Android phone (adb://) or here (local).

    from edgekit.devices import connect
    with connect("ssh://pi@raspberrypi") as dev:
        print(dev.describe()["arch"])
"""
from .targets import DeviceOptions, Target, connect, parse_uri
from .transport import DeviceLost, DeviceUnreachable

__all__ = ["DeviceOptions", "Target", "connect", "parse_uri", "DeviceLost", "DeviceUnreachable"]

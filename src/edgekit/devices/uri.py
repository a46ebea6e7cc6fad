"""Device URIs: one grammar per scheme, checked whole before anything is contacted.

    local[://][?SETTINGS]                   this machine
    ssh://[USER@]HOST[:PORT][/][?SETTINGS]  HOST: an ssh alias, a host name, an IPv4 or [IPv6] address
    adb://[SERIAL][/][?SETTINGS]            SERIAL: as `adb devices` lists it (R58M12ABC, host:port, emulator-5554)

    SETTINGS: python=PATH & tmpdir=DIR, each at most once, percent-encoded where needed.

Nothing here is parsed by a shell (transports take argv lists), but a user, host or serial that
starts with "-" would reach ssh/adb as an option, so it is refused; so is anything the grammar
does not name (a path, a fragment, an unknown setting, a port out of range).
"""
from __future__ import annotations

import ipaddress
import re
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Optional

from ..errors import ConfigError

USAGE = ("Valid: local, ssh://[user@]host[:port], adb://SERIAL or adb://host:port, each with optional "
         "?python=PATH&tmpdir=DIR")
SETTINGS = ("python", "tmpdir")
_NAME = r"[^\s@/?#\[\]:]+"  # a user, an ssh alias or host name: no separator of the grammar, no space
_SSH = re.compile(rf"(?:(?P<user>{_NAME})@)?(?:\[(?P<ipv6>[^\]]+)\]|(?P<host>{_NAME}))(?::(?P<port>\d+))?")
_SERIAL = re.compile(r"[^\s@/?#\[\]]*")


@dataclass(frozen=True)
class DeviceURI:
    text: str
    scheme: str
    host: Optional[str] = None
    user: Optional[str] = None
    port: Optional[int] = None
    serial: Optional[str] = None
    python: str = "python3"
    tmpdir: Optional[str] = None


def split(text: str) -> tuple[str, str, dict[str, str]]:
    """(scheme, authority, settings) of ``text``; the scheme is not checked here."""
    if text == "local":
        return "local", "", {}
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme:
        raise ConfigError(f"Device '{text}' is not a device URI. {USAGE}")
    if "#" in rest:
        raise ConfigError(f"Device URI '{text}' has a fragment (#...); settings go after '?'. {USAGE}")
    authority, _, query = rest.partition("?")
    if authority.endswith("/"):
        authority = authority[:-1]
    if "/" in authority:
        raise ConfigError(f"Device URI '{text}' has a path; use ?tmpdir=DIR for the remote directory. {USAGE}")
    return scheme.lower(), authority, _settings(text, query)


def _settings(text: str, query: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        key, value = urllib.parse.unquote(key), urllib.parse.unquote(value)
        if key not in SETTINGS:
            raise ConfigError(f"Unknown setting '{key}' in device URI '{text}'. Valid: {', '.join(SETTINGS)}")
        if key in out:
            raise ConfigError(f"Setting '{key}' is given twice in device URI '{text}'")
        if not eq or not value.strip():
            raise ConfigError(f"Setting '{key}' in device URI '{text}' needs a value, e.g. ?{key}="
                              + ("/home/pi/venv/bin/python" if key == "python" else "/tmp"))
        out[key] = value
    return out


def _no_option(text: str, what: str, value: Optional[str]) -> None:
    if value and value.startswith("-"):
        raise ConfigError(f"Invalid {what} '{value}' in device URI '{text}': it may not start with '-'. {USAGE}")


def parse_local(text: str, authority: str, settings: dict) -> DeviceURI:
    if authority:
        raise ConfigError(f"Device URI '{text}' names a host; local takes none (ssh://{authority} for a board). "
                          f"{USAGE}")
    return DeviceURI(text, "local", python=settings.get("python", sys.executable), tmpdir=settings.get("tmpdir"))


def parse_ssh(text: str, authority: str, settings: dict) -> DeviceURI:
    m = _SSH.fullmatch(authority)
    if not authority or m is None:
        raise ConfigError(f"Device URI '{text}' is not ssh://[user@]host[:port] (an IPv6 address goes in "
                          f"brackets: ssh://pi@[fe80::1]). {USAGE}")
    host = urllib.parse.unquote(m["host"] or "")
    if m["ipv6"] is not None:
        try:
            host = str(ipaddress.IPv6Address(m["ipv6"]))
        except ValueError:
            raise ConfigError(f"'{m['ipv6']}' in device URI '{text}' is not an IPv6 address. {USAGE}") from None
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"Bad port {m['port']} in device URI '{text}': ports are 1-65535. {USAGE}")
    user = urllib.parse.unquote(m["user"]) if m["user"] else None
    _no_option(text, "user", user)
    _no_option(text, "host", host)
    return DeviceURI(text, "ssh", host=host, user=user, port=port, python=settings.get("python", "python3"),
                     tmpdir=settings.get("tmpdir"))


def parse_adb(text: str, authority: str, settings: dict) -> DeviceURI:
    if _SERIAL.fullmatch(authority) is None:
        raise ConfigError(f"Device URI '{text}' is not adb://SERIAL or adb://host:port. {USAGE}")
    serial = urllib.parse.unquote(authority) or None
    _no_option(text, "adb serial", serial)
    return DeviceURI(text, "adb", serial=serial, python=settings.get("python", "python3"),
                     tmpdir=settings.get("tmpdir"))

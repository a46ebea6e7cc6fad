"""adb's RSA authentication, device side: Android's RSAPublicKey format and the token check."""

from __future__ import annotations

import base64
import struct
from pathlib import Path


# RSA PKCS#1 v1.5 DigestInfo prefix for SHA-1: adb signs the 20-byte token as if it were a digest.
SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")


def load_keys(path: Path) -> list[tuple[int, int]]:
    keys = []
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                keys.append(parse_android_pubkey(line.split()[0]))
            except (ValueError, IndexError, struct.error):
                continue
    return keys


def parse_android_pubkey(b64: bytes) -> tuple[int, int]:
    raw = base64.b64decode(b64)
    words = struct.unpack_from("<I", raw, 0)[0]
    n = int.from_bytes(raw[8:8 + 4 * words], "little")
    (e,) = struct.unpack_from("<I", raw, 8 + 8 * words)
    return n, e


def verify_signature(key: tuple[int, int], token: bytes, signature: bytes) -> bool:
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(signature) != k or not token:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    t = SHA1_DIGEST_INFO + token
    return em == b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


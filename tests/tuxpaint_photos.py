"""A labelled folder of real photos that installs offline: Tux Paint's stamps (Debian package
tuxpaint-stamps-default, GPL-2 per its copyright file) are mostly photographs cut out on a
transparent background, filed by category (a few are drawings). Five categories, cartoon
subfolders left out, each stamp flattened onto white: 208 images (birds 35, food 50, mammals 65,
plants 39, vehicles 19). No larger labelled photo set was found among Debian's or PyPI's packages.
"""
from __future__ import annotations

from pathlib import Path

STAMPS = Path("/usr/share/tuxpaint/stamps")
CLASSES = {"birds": "animals/birds", "food": "food", "mammals": "animals/mammals", "plants": "plants",
           "vehicles": "vehicles"}


def available() -> bool:
    return all((STAMPS / sub).is_dir() for sub in CLASSES.values())


def write_folder(root: Path) -> Path:
    """root/CLASS/NAME.png for every non-cartoon PNG stamp of the five categories."""
    from PIL import Image

    for label, sub in CLASSES.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for src in sorted((STAMPS / sub).rglob("*.png")):
            if "cartoon" in src.relative_to(STAMPS).parts:
                continue
            with Image.open(src) as im:
                rgba = im.convert("RGBA")
            flat = Image.new("RGB", rgba.size, "white")
            flat.paste(rgba, mask=rgba.split()[3])
            flat.save(root / label / ("_".join(src.relative_to(STAMPS / sub).with_suffix("").parts) + ".png"))
    return root

"""OpenVINO IR: an .xml graph with its .bin weights beside it, written so a present .xml is complete."""
from __future__ import annotations

import os
from pathlib import Path


def save_ir(ov, model, final: Path, staging: Path) -> None:
    """Save ``model`` in ``staging`` (a folder on the same file system), then move it into place
    .bin first, .xml last. Weights stay fp32 on disk (``compress_to_fp16=False``): the default
    fp16 compression would change the numbers of a file called fp32."""
    tmp_xml = Path(staging) / Path(final).name
    ov.save_model(model, str(tmp_xml), compress_to_fp16=False)
    os.replace(tmp_xml.with_suffix(".bin"), Path(final).with_suffix(".bin"))
    os.replace(tmp_xml, final)

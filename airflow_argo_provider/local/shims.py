"""Entrypoints of well-known images, for templates that set no ``command``.

The local backend runs a template's ``command``; an image's default entrypoint is not known
without pulling the image. For the images the Argo examples use without a command, a small
local program with the same behaviour stands in.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent

# image name (without tag) -> program file, and the tag-specific mode it is started with
_SHIMS: dict[str, str] = {
    "argoproj/argosay": "argosay.py",
    "quay.io/argoproj/argosay": "argosay.py",
}


# image name -> programs the image provides that this machine may lack (folder put on PATH)
_IMAGE_TOOLS = {"docker/whalesay": True, "argoproj/argosay": True, "quay.io/argoproj/argosay": True}


def image_path(image: str) -> list[str]:
    """Extra PATH folders standing in for tools an image provides (``cowsay`` in whalesay)."""
    name = image.partition(":")[0]
    return [str(_HERE / "bin")] if _IMAGE_TOOLS.get(name) else []


def shim_command(image: str) -> list[str] | None:
    """The command line standing in for ``image``'s entrypoint, or None when unknown."""
    name, _, tag = image.partition(":")
    program = _SHIMS.get(name)
    if program is None:
        return None
    version = "v1" if tag == "v1" else "v2"
    return [sys.executable, str(_HERE / program), f"--version={version}"]

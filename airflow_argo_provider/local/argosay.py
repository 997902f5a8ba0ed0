"""A stand-in for the ``argoproj/argosay`` image's entrypoint (Argo's test image).

v2 (a Go program): ``echo [text [file]]`` (text goes to stderr, Go's ``println``; with a file
the text is written there without a newline), ``cat FILE...``, ``sleep DURATION``,
``exit [CODE]``, ``assert_contains FILE TEXT``; no arguments means ``echo``. v1 (a shell
script) prints to stdout.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    total, pos = 0.0, 0
    for match in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"time: invalid duration {text!r}")
    return total


def main(argv: list[str]) -> int:
    version = "v2"
    if argv and argv[0].startswith("--version="):
        version = argv[0].split("=", 1)[1]
        argv = argv[1:]
    out = sys.stdout if version == "v1" else sys.stderr
    command, args = (argv[0], argv[1:]) if argv else ("echo", [])
    try:
        if command == "echo":
            if not args:
                print("hello argo", file=out)
            elif len(args) == 1:
                print(args[0], file=out)
            elif len(args) == 2:
                path = Path(args[1])
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(args[0])
            else:
                raise ValueError("usage: echo [text [file]]")
        elif command == "cat":
            for name in args:
                sys.stdout.write(Path(name).read_text())
        elif command == "sleep":
            time.sleep(_duration(args[0] if args else ""))
        elif command == "exit":
            return int(args[0]) if args else 0
        elif command == "assert_contains":
            text = Path(args[0]).read_text()
            if args[1] not in text:
                raise ValueError(f"{args[0]} does not contain {args[1]!r}")
        else:
            raise ValueError(f"unknown command {command!r}")
    except (OSError, ValueError, IndexError) as exc:
        print(f"panic: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

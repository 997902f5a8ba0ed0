"""A stand-in for ``kubectl`` on PATH: records its arguments and answers like a small cluster.

State lives in the folder ``FAKE_KUBECTL_STATE``: ``calls.jsonl`` (one line per call: arguments
and stdin), ``objects.json`` (objects by ``kind/name``). A created object gets ``status`` from
``FAKE_KUBECTL_STATUSES`` (a JSON list): the first entry at creation, the next ones on each later
``get``. ``FAKE_KUBECTL_FAIL`` makes every call fail with that message (exit code 1).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml


def main(argv: list[str]) -> int:
    state = Path(os.environ["FAKE_KUBECTL_STATE"])
    state.mkdir(parents=True, exist_ok=True)
    stdin = sys.stdin.read() if "-f" in argv and argv[argv.index("-f") + 1] == "-" else ""
    with (state / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps({"args": argv, "stdin": stdin}) + "\n")
    if os.environ.get("FAKE_KUBECTL_FAIL"):
        sys.stderr.write(os.environ["FAKE_KUBECTL_FAIL"] + "\n")
        return 1
    store = state / "objects.json"
    objects = json.loads(store.read_text()) if store.exists() else {}
    statuses = json.loads(os.environ.get("FAKE_KUBECTL_STATUSES", "[{}]"))
    action = argv[0]
    if action in ("create", "apply", "replace"):
        obj = yaml.safe_load(stdin)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            meta["name"] = meta.pop("generateName", "obj-") + "x7k2p"
        meta.setdefault("namespace", "default")
        meta["uid"] = "uid-" + meta["name"]
        obj["status"] = statuses[0]
        obj["_reads"] = 0
        objects[f"{obj['kind'].lower()}/{meta['name']}"] = obj
    elif action == "get":
        ref = argv[1]
        kind, _, name = ref.partition("/")
        key = f"{kind.split('.')[0]}/{name}"
        if key not in objects:
            sys.stderr.write(f'Error from server (NotFound): {ref} "{name}" not found\n')
            return 1
        obj = objects[key]
        obj["_reads"] += 1
        obj["status"] = statuses[min(obj["_reads"], len(statuses) - 1)]
    elif action == "delete":
        print("configmap/deleted")
        return 0
    elif action == "patch":
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "patched", "namespace": "default"}}
    else:
        sys.stderr.write(f"unknown action {action}\n")
        return 1
    store.write_text(json.dumps(objects))
    print(json.dumps({k: v for k, v in obj.items() if not k.startswith("_")}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

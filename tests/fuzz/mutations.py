"""Seeded mutations of real manifests: the broken input a shared dags folder will one day contain.

The sources are the upstream Argo examples (``shared/argo-examples``) and this repository's own
``dags/argo`` manifests (the only sources when the shared corpora are absent). Case ``i`` is always
the same bytes: its source and its mutation are chosen from ``i``, and its random choices come from
``random.Random(SEED + i)``, so a failure is reproduced with its case number alone.

Mutations, each a kind of mistake or attack seen in real folders: fields deleted, misspelled or given
the wrong type; references to templates, tasks, parameters and outputs that do not exist; cycles and
self-calls; values ``argo lint`` rejects (retry policies, sequences, cron schedules); odd names (very
long, non-ASCII, control characters); mangled ``{{...}}`` expressions; YAML syntax errors, alias bombs,
recursive aliases, deep nesting, huge files, bytes that are not UTF-8, NUL bytes; kinds swapped.
"""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SEED = 20_260_101


def _find_examples() -> Path | None:
    if os.environ.get("ARGO_EXAMPLES"):
        path = Path(os.environ["ARGO_EXAMPLES"])
        return path if path.is_dir() else None
    for folder in REPO.parents:
        candidate = folder / "shared" / "argo-examples"
        if candidate.is_dir():
            return candidate
    return None


@dataclass
class Case:
    number: int
    source: str
    mutation: str
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"case {self.number} ({self.mutation} of {self.source})"


def sources() -> list[tuple[str, str]]:
    """(name, text) of every source manifest, in a stable order."""
    found: list[tuple[str, str]] = []
    for path in sorted((REPO / "dags" / "argo").glob("*.yaml")):
        found.append((f"dags/argo/{path.name}", path.read_text()))
    examples = _find_examples()
    if examples is not None:
        for path in sorted(examples.rglob("*.yaml")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            found.append((f"argo-examples/{path.relative_to(examples)}", text))
    return found


# -- helpers over parsed documents ------------------------------------------------------------------------------
def _docs(text: str) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return []


def _dump(docs: list[Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, width=1000)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a mapping key or list item, iteratively."""
    out: list[tuple[Any, ...]] = []
    pending = [(node, path)]
    while pending:
        current, at = pending.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                out.append((*at, key))
                pending.append((value, (*at, key)))
        elif isinstance(current, list):
            for index, value in enumerate(current):
                out.append((*at, index))
                pending.append((value, (*at, index)))
    return sorted(out, key=repr)


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _templates(doc: Any) -> list[dict[str, Any]]:
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if isinstance(spec, dict) and isinstance(spec.get("workflowSpec"), dict):
        spec = spec["workflowSpec"]
    templates = spec.get("templates") if isinstance(spec, dict) else None
    return [t for t in templates if isinstance(t, dict)] if isinstance(templates, list) else []


def _invocations(doc: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for template in _templates(doc):
        for group in template.get("steps") or []:
            found += [s for s in group or [] if isinstance(s, dict)]
        dag = template.get("dag")
        if isinstance(dag, dict):
            found += [t for t in dag.get("tasks") or [] if isinstance(t, dict)]
    return found


def _misspell(word: str, rng: random.Random) -> str:
    if not word:
        return "x"
    choice = rng.randrange(5)
    i = rng.randrange(len(word))
    if choice == 0:
        return word[:i] + word[i + 1 :] or word + "x"
    if choice == 1:
        return word[:i] + word[i] + word[i:]
    if choice == 2 and len(word) > 1:
        j = min(i + 1, len(word) - 1)
        chars = list(word)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars) if "".join(chars) != word else word + "s"
    if choice == 3:
        return word.upper() if word != word.upper() else word.lower() + "_"
    return "".join("_" + c.lower() if c.isupper() else c for c in word)


_ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    2.5,
    "",
    "many",
    [],
    {},
    [1, [2, {"x": None}]],
    {"nested": {"deeper": [True]}},
    "{{",
    "\u00e9\u00e8\u2603",
    "x" * 5000,
]

Mutator = Callable[[str, random.Random], str | bytes | dict[str, bytes]]


def _structural(change: Callable[[list[Any], random.Random], bool]) -> Mutator:
    def mutate(text: str, rng: random.Random) -> str:
        docs = _docs(text)
        if not docs:
            return text + "\n: broken"
        docs = copy.deepcopy(docs)
        if not change(docs, rng):
            return text.replace("kind:", "kinds:", 1)
        return _dump(docs)

    return mutate


def _delete(docs: list[Any], rng: random.Random) -> bool:
    doc = rng.choice(docs)
    paths = _paths(doc)
    if not paths:
        return False
    path = rng.choice(paths)
    parent = _parent(doc, path)
    del parent[path[-1]]
    return True


def _rename(docs: list[Any], rng: random.Random) -> bool:
    doc = rng.choice(docs)
    paths = [p for p in _paths(doc) if isinstance(p[-1], str)]
    if not paths:
        return False
    path = rng.choice(paths)
    parent = _parent(doc, path)
    parent[_misspell(path[-1], rng)] = parent.pop(path[-1])
    return True


def _retype(docs: list[Any], rng: random.Random) -> bool:
    doc = rng.choice(docs)
    paths = _paths(doc)
    if not paths:
        return False
    path = rng.choice(paths)
    _parent(doc, path)[path[-1]] = copy.deepcopy(rng.choice(_ODD_VALUES))
    return True


def _cycle(docs: list[Any], rng: random.Random) -> bool:
    for doc in docs:
        for template in _templates(doc):
            dag = template.get("dag")
            tasks = dag.get("tasks") if isinstance(dag, dict) else None
            if isinstance(tasks, list) and tasks and all(isinstance(t, dict) for t in tasks):
                first, last = tasks[0], tasks[-1]
                if "depends" in first or rng.random() < 0.5:
                    first["depends"] = f"{last.get('name')} && {first.get('name')}"
                    first.pop("dependencies", None)
                else:
                    first["dependencies"] = [str(last.get("name")), str(first.get("name"))]
                return True
            if template.get("steps"):
                for group in template["steps"]:
                    for step in group or []:
                        if isinstance(step, dict):
                            step["template"] = template.get("name")
                            step.pop("templateRef", None)
                            return True
    return False


def _break_reference(docs: list[Any], rng: random.Random) -> bool:
    invocations = [i for doc in docs for i in _invocations(doc)]
    if not invocations:
        for doc in docs:
            spec = doc.get("spec") if isinstance(doc, dict) else None
            if isinstance(spec, dict):
                spec["entrypoint"] = _misspell(str(spec.get("entrypoint") or "main"), rng)
                return True
        return False
    invocation = rng.choice(invocations)
    choice = rng.randrange(4)
    if choice == 0 and "template" in invocation:
        invocation["template"] = _misspell(str(invocation["template"]), rng)
    elif choice == 1:
        invocation["templateRef"] = {"name": "no-such-template", "template": "nothing"}
        invocation.pop("template", None)
    elif choice == 2:
        invocation["depends"] = "ghost.Succeeded || (" + str(invocation.get("name")) + ".Failed"
    else:
        invocation["arguments"] = {"parameters": [{"name": "p", "value": "{{steps.ghost.outputs.result}}"}]}
    return True


def _lint(docs: list[Any], rng: random.Random) -> bool:
    doc = rng.choice(docs)
    templates = _templates(doc)
    invocations = _invocations(doc)
    spec = doc.get("spec") if isinstance(doc, dict) else None
    choice = rng.randrange(7)
    if choice == 0 and templates:
        rng.choice(templates)["retryStrategy"] = {"limit": 2, "retryPolicy": "OnFailur"}
    elif choice == 1 and invocations:
        rng.choice(invocations)["withSequence"] = {"count": rng.choice(["many", -5, 2.5, "1e3", "", "0x10"])}
        return True
    elif choice == 2 and templates:
        template = rng.choice(templates)
        template.setdefault("inputs", {})["parameters"] = [{"name": "x", "value": "{{workflow.parameters.nope}}"}]
    elif choice == 3 and isinstance(spec, dict):
        doc["kind"] = "CronWorkflow"
        doc["spec"] = {"schedule": rng.choice(["99 99 * * *", "* * *", "@often", "61 * * * *"]), "workflowSpec": spec}
        if rng.random() < 0.5:
            doc["spec"]["timezone"] = "Mars/Olympus"
    elif choice == 4 and isinstance(spec, dict):
        spec["podGC"] = {"strategy": "OnPodSucces"}
    elif choice == 5 and invocations:
        rng.choice(invocations)["depends"] = "a.Bogus || b.Succeeded"
    elif isinstance(spec, dict):
        doc["kind"] = "CronWorkflow"
        doc["spec"] = {"schedules": ["0 * * * *"], "concurrencyPolicy": "Sometimes", "workflowSpec": spec}
    else:
        return False
    return True


def _odd_name(docs: list[Any], rng: random.Random) -> bool:
    doc = rng.choice(docs)
    if not isinstance(doc, dict):
        return False
    meta = doc.setdefault("metadata", {})
    if not isinstance(meta, dict):
        return False
    meta.pop("generateName", None)
    meta["name"] = rng.choice(
        [
            "x" * 400,
            "h\u00e9llo-w\u00f6rld",
            "with space",
            "",
            "UPPER-case",
            "dots..dots",
            "tab\there",
            "\u2603\u2603",
            "-leading-dash",
            "a" * 64,
        ]
    )
    if rng.random() < 0.3:
        meta.setdefault("annotations", {})["airflow-argo-provider/dag-id"] = "bad id/with slash"
    return True


def _expression(text: str, rng: random.Random) -> str:
    starts = [i for i in range(len(text)) if text.startswith("{{", i)]
    if not starts:
        return text.replace("image:", "image: '{{=1 +}}'\n    x-image:", 1)
    at = rng.choice(starts) + 2
    junk = rng.choice(["=", "(", "[[", "sprig.repeat(999999999, 'x') ", "| ", "'", "==", "!", "..", "{{", "}"])
    return text[:at] + junk + text[at:]


def _syntax(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    if not lines:
        return "a: [\n"
    i = rng.randrange(len(lines))
    choice = rng.randrange(6)
    if choice == 0:
        lines[i] = lines[i].replace(":", "", 1)
    elif choice == 1:
        lines[i] = "\t" + lines[i]
    elif choice == 2:
        lines[i] = lines[i] + " [unclosed"
    elif choice == 3:
        lines[i] = " " + lines[i]
    elif choice == 4:
        lines.insert(i, "key: 'unterminated")
    else:
        return text[: rng.randrange(len(text) + 1)]
    return "\n".join(lines) + "\n"


_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def _aliases(text: str, rng: random.Random) -> str:
    choice = rng.randrange(5)
    if choice == 0:  # a billion laughs in the manifest's own parameters
        return text.replace(
            "spec:\n", "spec:\n  x-bomb:\n" + "".join("    " + line + "\n" for line in _BOMB.splitlines()), 1
        )
    if choice == 1:
        return text + "\n---\napiVersion: argoproj.io/v1alpha1\nkind: Workflow\n" + _BOMB
    if choice == 2:
        return text.replace("spec:\n", "spec:\n  loop: &loop [1, *loop]\n", 1)
    if choice == 3:
        return text.replace("spec:\n", "spec:\n  loop: &m\n    inner: *m\n", 1)
    return text.replace("templates:\n", "templates: &t\n", 1) + "\n---\nagain: *t\n"


def _deep(text: str, rng: random.Random) -> str:
    depth = rng.choice([150, 1_000, 10_000, 100_000])
    if rng.random() < 0.5:
        nested = "[" * depth + "]" * depth
    else:
        nested = "{a: " * depth + "1" + "}" * depth
    return text.replace("spec:\n", f"spec:\n  deep: {nested}\n", 1)


def _huge(text: str, rng: random.Random) -> str | bytes:
    choice = rng.randrange(3)
    if choice == 0:
        return text + "\n# " + "x" * (9 * 1024 * 1024) + "\n"
    if choice == 1:  # a long but legal fan-out
        items = "".join(f"    - item-{i}\n" for i in range(rng.choice([2_000, 20_000])))
        return (
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: wide\nspec:\n  entrypoint: main\n"
            "  templates:\n  - name: main\n    steps:\n    - - name: each\n        template: echo\n"
            "        arguments: {parameters: [{name: m, value: '{{item}}'}]}\n        withItems:\n"
            + items.replace("    - ", "        - ")
            + "  - name: echo\n    inputs: {parameters: [{name: m}]}\n    container: {image: busybox}\n"
        )
    templates = "".join(
        f"  - name: t{i}\n    steps:\n    - - name: s\n        template: t{i + 1}\n" for i in range(2_000)
    )
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: chain\nspec:\n  entrypoint: t0\n"
        "  templates:\n" + templates + "  - name: t2000\n    container: {image: busybox}\n"
    )


def _bytes(text: str, rng: random.Random) -> bytes:
    data = bytearray(text.encode("utf-8"))
    if not data:
        return b"\x00"
    choice = rng.randrange(5)
    at = rng.randrange(len(data))
    if choice == 0:
        data[at:at] = b"\x00"
    elif choice == 1:
        data[at:at] = b"\xff\xfe"
    elif choice == 2:
        data[at:at] = bytes([rng.choice([1, 7, 8, 11, 12, 27, 127])])
    elif choice == 3:
        data = bytearray(b"\xef\xbb\xbf") + data
    else:
        for _ in range(8):
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _kind(text: str, rng: random.Random) -> str:
    kind = rng.choice(
        ["WorkflowTemplate", "CronWorkflow", "ClusterWorkflowTemplate", "Sensor", "EventSource", "Pod", ""]
    )
    lines = text.splitlines()
    return "\n".join(f"kind: {kind}" if line.startswith("kind:") else line for line in lines) + "\n"


def _referenced(text: str, rng: random.Random) -> dict[str, bytes]:
    """Break a WorkflowTemplate (or Sensor) that another manifest of the folder refers to."""
    library = (
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata:\n  name: fuzz-library\nspec:\n"
        "  templates:\n  - name: t\n    container: {image: busybox, command: [echo, hi]}\n"
    )
    broken = _MUTATORS[rng.choice(["delete", "rename", "retype", "syntax", "bytes"])](library, rng)
    user = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: fuzz-user\nspec:\n" + (
        "  workflowTemplateRef: {name: fuzz-library}\n"
        if rng.random() < 0.5
        else "  entrypoint: main\n  templates:\n  - name: main\n    steps:\n    - - name: a\n"
        "        templateRef: {name: fuzz-library, template: t}\n"
    )
    return {
        "library.yaml": broken if isinstance(broken, bytes) else str(broken).encode("utf-8", "surrogatepass"),
        "user.yaml": user.encode(),
    }


_MUTATORS: dict[str, Any] = {
    "delete": _structural(_delete),
    "rename": _structural(_rename),
    "retype": _structural(_retype),
    "cycle": _structural(_cycle),
    "reference": _structural(_break_reference),
    "lint": _structural(_lint),
    "name": _structural(_odd_name),
    "expression": _expression,
    "syntax": _syntax,
    "aliases": _aliases,
    "deep": _deep,
    "bytes": _bytes,
    "kind": _kind,
    "referenced": _referenced,
    "huge": _huge,
}
# How often each mutation is drawn (huge files are slow to make and read: a few are enough).
_WEIGHTS = {name: (1 if name == "huge" else 10) for name in _MUTATORS}
_DRAW = [name for name, weight in _WEIGHTS.items() for _ in range(weight)]


def case(number: int, corpus: list[tuple[str, str]] | None = None) -> Case:
    corpus = corpus if corpus is not None else sources()
    rng = random.Random(SEED + number)
    name, text = corpus[number % len(corpus)]
    mutation = _DRAW[(number * 7 + number // len(corpus)) % len(_DRAW)]
    out = _MUTATORS[mutation](text, rng)
    if isinstance(out, dict):
        files = out
    elif isinstance(out, bytes):
        files = {"manifest.yaml": out}
    else:
        files = {"manifest.yaml": out.encode("utf-8", "surrogatepass")}
    return Case(number, name, mutation, files)


def neighbour(number: int) -> str:
    """A valid manifest, loaded beside case ``number``: its DAG must always load."""
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n"
        f"  name: fuzz-neighbour-{number}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n"
        "    container: {image: busybox, command: [echo, neighbour]}\n"
    )

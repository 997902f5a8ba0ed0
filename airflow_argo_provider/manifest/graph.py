"""Dependency graphs of a manifest: DAG tasks, containers of a containerSet."""

from __future__ import annotations


def find_cycle(edges: dict[str, list[str]]) -> list[str]:
    """A cycle in ``task -> dependencies`` edges, as a list of names (first repeated last)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in edges.get(node, []):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []

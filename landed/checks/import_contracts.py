"""Import contract types that import-linter has no built-in for (registered in pyproject.toml).

- `no_cycles`: no import cycle between the project's modules, counting the imports placed
  inside functions (grimp records those like any other). The built-in `acyclic_siblings` only
  compares the children of one package, so a cycle that runs through several apps
  (connectors.services -> syncs.services -> syncs.tasks -> connectors.services) would slip past it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import cast

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain.imports import Module


@dataclass(frozen=True)
class Link:
    """One import of a chain, with the lines of the importer that make it."""

    importer: str
    imported: str
    line_numbers: tuple[int, ...]

    def __str__(self) -> str:
        lines = ", ".join(f"l.{number}" for number in self.line_numbers) or "l.?"
        return f"{self.importer} -> {self.imported} ({lines})"


@dataclass(frozen=True)
class Cycle:
    """A group of modules that all import each other, directly or not, and chains that show it:
    each chain starts and ends at the same module, and every member is on at least one chain."""

    modules: tuple[str, ...]
    chains: tuple[tuple[Link, ...], ...]


def strongly_connected_components(
    nodes: Iterable[str], successors: Mapping[str, Iterable[str]]
) -> list[list[str]]:
    """Tarjan's algorithm, iterative: a recursive walk would hit Python's recursion limit on a
    long import chain. Components and their members come out sorted, so reports are stable."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> tuple[str, Iterator[str]]:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        return node, iter(sorted(successors.get(node, ())))

    for root in sorted(nodes):
        if root in index:
            continue
        walk = [visit(root)]
        while walk:
            node, remaining = walk[-1]
            for successor in remaining:
                if successor not in index:
                    walk.append(visit(successor))
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            else:
                walk.pop()
                if walk:
                    parent = walk[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return sorted(components)


def shortest_cycle_through(
    start: str, members: set[str], successors: Mapping[str, Iterable[str]]
) -> list[str]:
    """The shortest chain of imports from `start` back to `start` that stays within `members`
    (breadth first), as module names with `start` at both ends; empty if there is none."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(successors.get(node, ())):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if successor in members and successor not in previous:
                previous[successor] = node
                queue.append(successor)
    return []


def cycle_chains(component: list[str], successors: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Chains that together pass through every module of a strongly connected component: the
    shortest cycle through the first module not yet on a chain, until none is left."""
    members = set(component)
    uncovered = set(component)
    chains: list[list[str]] = []
    for module in component:
        if module not in uncovered:
            continue
        chain = shortest_cycle_through(module, members, successors)
        if chain:
            chains.append(chain)
        uncovered -= {module, *chain}
    return chains


def find_cycles(graph: ImportGraph, containers: Iterable[str]) -> list[Cycle]:
    """Every import cycle between the modules inside `containers` (packages), found in `graph`."""
    prefixes = tuple(f"{container}." for container in containers)
    modules = {
        module
        for module in graph.modules
        if module.startswith(prefixes) or f"{module}." in prefixes
    }
    successors = {
        module: graph.find_modules_directly_imported_by(module) & modules for module in modules
    }
    cycles = []
    for component in strongly_connected_components(modules, successors):
        chains = cycle_chains(component, successors)
        if not chains:
            continue  # a module on its own, importing nothing that leads back to it
        cycles.append(
            Cycle(
                modules=tuple(component),
                chains=tuple(_links(graph, chain) for chain in chains),
            )
        )
    return cycles


def _links(graph: ImportGraph, chain: list[str]) -> tuple[Link, ...]:
    links = []
    for importer, imported in pairwise(chain):
        details = graph.get_import_details(importer=importer, imported=imported)
        line_numbers = tuple(sorted({detail["line_number"] for detail in details}))
        links.append(Link(importer=importer, imported=imported, line_numbers=line_numbers))
    return tuple(links)


class NoCyclesContract(Contract):
    """No import cycle between the modules of the root packages (or of `containers`).

    Configuration options:
        - containers: packages whose modules are checked (optional; the root packages).
    """

    type_name = "no_cycles"

    containers = fields.SetField(subfield=fields.ModuleField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        configured = cast(set[Module] | None, self.containers)
        containers = (
            sorted(module.name for module in configured)
            if configured
            else list(self.session_options["root_packages"])
        )
        output.verbose_print(verbose, f"Searching for import cycles in {', '.join(containers)}...")
        cycles = find_cycles(graph, containers)
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        cycles: list[Cycle] = check.metadata["cycles"]
        for cycle in cycles:
            output.print_error(
                f"Import cycle of {len(cycle.modules)} modules: {', '.join(cycle.modules)}"
            )
            output.new_line()
            for chain in cycle.chains:
                for position, link in enumerate(chain):
                    output.print_error(f"{'-' if position == 0 else ' '} {link}", bold=False)
                output.new_line()

"""Import contract types that import-linter has no built-in for (registered in pyproject.toml).

- `no_cycles`: no import cycle between the project's modules, counting the imports placed
  inside functions (grimp records those like any other). The built-in `acyclic_siblings` only
  compares the children of one package, so a cycle that runs through several apps
  (connectors.services -> syncs.services -> workers.tasks -> connectors.services) slips past it.
- `forbidden_pending`: the built-in `forbidden` contract for a restructuring under way. A module
  listed in `pending_modules` may be absent from the code (not written yet, or not merged yet):
  it is skipped with a warning, where `forbidden` would stop the whole run on a missing module.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, cast

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output
from importlinter.contracts.forbidden import ForbiddenContract
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


def _as_list(raw: Any) -> list[str]:
    # TOML gives lists; an INI file gives one string per option (newline-separated).
    if isinstance(raw, str):
        return [line.strip() for line in raw.splitlines() if line.strip()]
    return [str(item).strip() for item in raw]


class ForbiddenPendingContract(ForbiddenContract):
    """A `forbidden` contract whose `pending_modules` may be missing from the code for now.

    A pending module that is missing is left out of `source_modules` and `forbidden_modules`,
    with a warning; one that exists is checked as usual, with a warning to take it off the list.

    Configuration options: those of `forbidden`, plus
        - pending_modules: modules named in source_modules or forbidden_modules that may not
                           exist yet.
    """

    type_name = "forbidden_pending"

    pending_modules = fields.SetField(subfield=fields.ModuleField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        pending = {module.name for module in cast(set[Module] | None, self.pending_modules) or ()}
        absent = {name for name in pending if name not in graph.modules}
        options = {
            key: value for key, value in self.contract_options.items() if key != "pending_modules"
        }
        for key in ("source_modules", "forbidden_modules"):
            options[key] = [name for name in _as_list(options[key]) if name not in absent]
        result = ForbiddenContract(self.name, self.session_options, options).check(graph, verbose)
        notes = [
            f"{name} does not exist yet: not checked until it does." for name in sorted(absent)
        ]
        notes += [
            f"{name} exists now: take it off pending_modules." for name in sorted(pending - absent)
        ]
        result.warnings = [*notes, *result.warnings]
        return result

"""The contract types of our own (landed/checks/import_contracts.py), on small graphs.

The project's contracts themselves are checked by `lint-imports` in scripts/test.sh, not here.
"""

import textwrap
from pathlib import Path

import grimp
from grimp import ImportGraph

from landed.checks.import_contracts import (
    NoCyclesContract,
    find_cycles,
    strongly_connected_components,
)


def graph_of(*imports: tuple[str, str], externals: tuple[str, ...] = ()) -> ImportGraph:
    graph = ImportGraph()
    for line_number, (importer, imported) in enumerate(imports, start=1):
        for module in (importer, imported):
            if module not in graph.modules:
                graph.add_module(module, is_squashed=module in externals)
        graph.add_import(
            importer=importer,
            imported=imported,
            line_number=line_number,
            line_contents=f"import {imported}",
        )
    return graph


def no_cycles(graph_roots: list[str]) -> NoCyclesContract:
    return NoCyclesContract(
        name="no cycles", session_options={"root_packages": graph_roots}, contract_options={}
    )


def test_components_are_the_groups_that_reach_each_other():
    successors = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": []}

    components = strongly_connected_components(successors, successors)

    assert components == [["a", "b", "c"], ["d"], ["e"]]


def test_a_long_chain_does_not_hit_the_recursion_limit():
    names = [f"m{i:05d}" for i in range(5000)]
    successors = {name: [after] for name, after in zip(names, names[1:] + names[:1], strict=True)}

    assert strongly_connected_components(names, successors) == [sorted(names)]


def test_each_module_of_a_cycle_is_on_a_reported_chain_with_its_lines():
    graph = graph_of(
        ("app.a", "app.b"),
        ("app.b", "app.a"),
        ("app.b", "app.c"),
        ("app.c", "app.a"),
        ("app.c", "django"),
        ("app.d", "app.a"),
        externals=("django",),
    )

    [cycle] = find_cycles(graph, ["app"])

    assert cycle.modules == ("app.a", "app.b", "app.c")
    chains = [[(link.importer, link.imported) for link in chain] for chain in cycle.chains]
    assert chains == [
        [("app.a", "app.b"), ("app.b", "app.a")],
        [("app.c", "app.a"), ("app.a", "app.b"), ("app.b", "app.c")],
    ]
    assert str(cycle.chains[0][1]) == "app.b -> app.a (l.2)"


def test_the_contract_is_kept_without_cycles_and_broken_with_one():
    acyclic = graph_of(("app.a", "app.b"), ("app.b", "app.c"))
    cyclic = graph_of(("app.a", "app.b"), ("app.b", "app.a"))

    assert no_cycles(["app"]).check(acyclic, verbose=False).kept
    result = no_cycles(["app"]).check(cyclic, verbose=False)
    assert not result.kept
    assert [cycle.modules for cycle in result.metadata["cycles"]] == [("app.a", "app.b")]


def test_only_modules_of_the_root_packages_count():
    graph = graph_of(("app.a", "other.b"), ("other.b", "app.a"))

    assert no_cycles(["app"]).check(graph, verbose=False).kept
    assert not no_cycles(["app", "other"]).check(graph, verbose=False).kept


def test_grimp_counts_imports_placed_inside_functions(tmp_path: Path, monkeypatch):
    package = tmp_path / "throwaway_cycle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from throwaway_cycle import second\n")
    (package / "second.py").write_text(
        textwrap.dedent(
            """
            def later():
                from throwaway_cycle import first

                return first
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    graph = grimp.build_graph("throwaway_cycle", cache_dir=None)

    [cycle] = find_cycles(graph, ["throwaway_cycle"])
    assert cycle.modules == ("throwaway_cycle.first", "throwaway_cycle.second")

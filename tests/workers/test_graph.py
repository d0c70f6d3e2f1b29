"""Dependency graphs: deduplication, order, cycles, bad requires()/output(), deep chains."""

from __future__ import annotations

import sys

import pytest

import workers
from workers import boundary
from workers.errors import (
    DependencyCycleError,
    InvalidDependencyError,
    InvalidOutputError,
    UserCodeError,
)
from workers.graph import build_graph


class Leaf(workers.ExternalTask):
    name = workers.Parameter()


class Middle(workers.Task):
    n = workers.IntParameter()

    def requires(self):
        return {"shared": Leaf(name="shared"), "own": [Leaf(name=f"own{self.n}")]}


class Root(workers.WrapperTask):
    def requires(self):
        return [Middle(n=1), Middle(n=2), Leaf(name="shared")]


def test_dedup_and_topological_order() -> None:
    graph = build_graph(Root())
    ids = [task.task_id for task in graph.topological_order()]
    assert len(ids) == len(set(ids)) == 6
    position = {task_id: i for i, task_id in enumerate(ids)}
    for task_id, deps in graph.edges.items():
        for dep in deps:
            assert position[dep] < position[task_id]
    assert ids[-1] == Root().task_id
    assert graph.requirements(Middle(n=1)) == [Leaf(name="shared"), Leaf(name="own1")]
    assert Leaf(name="shared") in graph
    assert sorted(graph.dependents()[Leaf(name="shared").task_id]) == sorted(
        [Middle(n=1).task_id, Middle(n=2).task_id, Root().task_id]
    )


def test_many_roots_share_one_graph() -> None:
    graph = build_graph([Middle(n=1), Middle(n=2), Middle(n=1)])
    assert graph.roots == [Middle(n=1).task_id, Middle(n=2).task_id]
    assert len(graph) == 5


def test_expand_can_skip_requirements() -> None:
    graph = build_graph(Root(), expand=lambda task: not isinstance(task, Middle))
    assert len(graph) == 4  # Root, two Middles, shared Leaf; Middles not expanded
    assert graph.edges[Middle(n=1).task_id] == []


class CycleA(workers.Task):
    x = workers.IntParameter()

    def requires(self):
        return CycleB()


class CycleB(workers.Task):
    def requires(self):
        return CycleA(x=1)


def test_cycle_is_reported_with_its_path() -> None:
    with pytest.raises(DependencyCycleError) as info:
        build_graph(CycleA(x=1))
    assert str(info.value) == "dependency cycle: CycleA(x=1) -> CycleB() -> CycleA(x=1)"
    assert info.value.cycle == [CycleA(x=1), CycleB(), CycleA(x=1)]


def test_self_cycle() -> None:
    class Selfish(workers.Task):
        def requires(self):
            return self

    with pytest.raises(DependencyCycleError, match=r"Selfish\(\) -> Selfish\(\)$"):
        build_graph(Selfish())


def test_requires_returning_a_non_task() -> None:
    class Sloppy(workers.Task):
        def requires(self):
            return [Leaf(name="ok"), "not a task"]

    with pytest.raises(InvalidDependencyError) as info:
        build_graph(Sloppy())
    assert "Sloppy().requires() returned 'not a task' (a str)" in str(info.value)


def test_requires_returning_a_target() -> None:
    class TargetDep(workers.Task):
        def requires(self):
            return workers.LocalTarget("/tmp/x")

    with pytest.raises(InvalidDependencyError, match="wrap existing data in an ExternalTask"):
        build_graph(TargetDep())


def test_output_returning_a_non_target() -> None:
    class BadOutput(workers.Task):
        def output(self):
            return {"path": "/tmp/plain-string"}

    with pytest.raises(InvalidOutputError) as info:
        boundary.is_complete(BadOutput())
    assert "BadOutput().output() returned '/tmp/plain-string' (a str)" in str(info.value)


def test_user_code_errors_keep_the_original_traceback() -> None:
    class Broken(workers.Task):
        def requires(self):
            return {}["missing"]

    with pytest.raises(UserCodeError) as info:
        build_graph(Broken())
    error = info.value
    assert str(error) == "Broken().requires() raised KeyError: 'missing'"
    assert isinstance(error.__cause__, KeyError)
    assert 'return {}["missing"]' in error.traceback_text


def test_root_must_be_a_task() -> None:
    with pytest.raises(InvalidDependencyError, match="is not a Task instance"):
        build_graph([Root(), 42])


class Chain(workers.Task):
    n = workers.IntParameter()

    def requires(self):
        return Chain(n=self.n - 1) if self.n > 0 else []


def test_ten_thousand_deep_chain_needs_no_recursion() -> None:
    depth = 10_000
    assert depth > sys.getrecursionlimit()
    graph = build_graph(Chain(n=depth))
    order = graph.topological_order()
    assert len(order) == depth + 1
    assert order[0] == Chain(n=0)
    assert order[-1] == Chain(n=depth)

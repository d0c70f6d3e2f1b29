"""Task behaviour: completeness, caching, registry, cloning, dynamic dependencies, events."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import workers
from workers import LocalTarget, RunDriver, events, registry
from workers.errors import (
    AmbiguousTaskClassError,
    InvalidDependencyError,
    TaskClassNotFoundError,
)


class Source(workers.ExternalTask):
    path = workers.Parameter()

    def output(self):
        return LocalTarget(self.path)


class Copy(workers.Task):
    src = workers.Parameter()
    dst = workers.Parameter()

    def requires(self):
        return Source(path=self.src)

    def output(self):
        return LocalTarget(self.dst)

    def run(self):
        with self.input().open("r") as inp, self.output().open("w") as out:
            out.write(inp.read().upper())


def test_complete_follows_outputs(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("abc")
    task = Copy(src=str(tmp_path / "in.txt"), dst=str(tmp_path / "out.txt"))
    assert task.requires().complete()
    assert not task.complete()
    task.run()
    assert task.complete()
    assert (tmp_path / "out.txt").read_text() == "ABC"
    assert task.deps() == [Source(path=str(tmp_path / "in.txt"))]


def test_task_without_outputs_is_never_complete() -> None:
    class NoOutput(workers.Task):
        pass

    assert NoOutput().complete() is False


def test_wrapper_task_is_complete_when_requirements_are(tmp_path: Path) -> None:
    class All(workers.WrapperTask):
        def requires(self):
            return [Source(path=str(tmp_path / "a")), {"b": Source(path=str(tmp_path / "b"))}]

    assert not All().complete()
    (tmp_path / "a").write_text("")
    assert not All().complete()
    (tmp_path / "b").write_text("")
    assert All().complete()


def test_external_tasks_are_not_run() -> None:
    assert workers.is_external(Source(path="/x"))
    assert not workers.is_external(Copy(src="a", dst="b"))
    external_copy = workers.externalize(Copy)
    assert workers.is_external(external_copy(src="a", dst="b"))
    assert external_copy(src="a", dst="b").task_id == Copy(src="a", dst="b").task_id
    assert registry.get_task_class("Copy") is Copy  # the copy stays out of the registry
    instance = workers.externalize(Copy(src="a", dst="b"))
    assert workers.is_external(instance) and not workers.is_external(Copy(src="a", dst="b"))


def test_instance_cache_returns_the_same_object() -> None:
    assert Copy("a", "b") is Copy(src="a", dst="b")
    assert Copy("a", "b") is not Copy("a", "c")
    workers.disable_instance_cache()
    try:
        first, second = Copy("a", "b"), Copy("a", "b")
        assert first is not second
        assert first == second and hash(first) == hash(second)
    finally:
        workers.clear_instance_cache()


def test_parameters_added_to_a_class_later_are_seen() -> None:
    class Base(workers.Task):
        a = workers.IntParameter()

    class Child(Base):
        pass

    assert [name for name, _ in Child.get_params()] == ["a"]  # remembered from here on
    Base.b = workers.IntParameter(default=2)
    assert [name for name, _ in Child.get_params()] == ["a", "b"]
    assert Child(a=1).param_kwargs == {"a": 1, "b": 2}
    del Base.b
    assert [name for name, _ in Child.get_params()] == ["a"]
    params = Child.get_params()
    params.clear()  # the caller's copy: the class keeps its parameters
    assert [name for name, _ in Child.get_params()] == ["a"]


def test_identity_and_parameter_helpers() -> None:
    class Params(workers.Task):
        a = workers.IntParameter()
        b = workers.Parameter(significant=False, default="x")
        c = workers.IntParameter(default=1, batch_method=max)

    task = Params(a=1)
    assert task.param_kwargs == {"a": 1, "b": "x", "c": 1}
    assert [name for name, _ in Params.get_params()] == ["a", "b", "c"]
    assert Params.get_param_names() == ["a", "c"]
    assert Params.get_param_names(include_significant=True) == ["a", "b", "c"]
    assert task.batchable and Params.batch_param_names() == ["c"]
    assert repr(task) == "Params(a=1, c=1)"
    clone = task.clone(a=2)
    assert (clone.a, clone.b, clone.c) == (2, "x", 1)
    assert Params.from_str_params({"a": "5", "c": ["1", "7", "3"]}).c == 7
    assert task != Params(a=2)
    assert {task, Params(a=1)} == {task}


def test_scheduler_facing_attributes() -> None:
    class Tuned(workers.Task):
        priority = 10
        resources = {"db": 1}
        retry_count = 3
        disable_window = 60
        owner_email = "a@example.com,b@example.com"
        accepts_messages = True

    task = Tuned()
    assert task.retry_policy_dict() == {
        "retry_count": 3,
        "disable_hard_timeout": None,
        "disable_window": 60,
    }
    assert Copy(src="a", dst="b").retry_policy_dict() == {
        "retry_count": None,
        "disable_hard_timeout": None,
        "disable_window": None,
    }
    assert task.process_resources() == {"db": 1}
    assert task.owner_list() == ["a@example.com", "b@example.com"]
    assert task.accepts_messages and not task.disabled and not task.batchable
    assert task.max_batch_size == float("inf") and task.worker_timeout is None
    assert task.task_module == __name__


def test_runtime_hooks_are_noops_until_replaced() -> None:
    task = Copy(src="a", dst="b")
    task.set_tracking_url("http://x")
    task.set_status_message("hi")
    task.set_progress_percentage(50)
    seen: list[str] = []
    task.set_status_message = seen.append
    task.set_status_message("running")
    assert seen == ["running"]
    with task.no_unpicklable_properties():
        restored = pickle.loads(pickle.dumps(task))
    assert restored.task_id == task.task_id
    assert task.set_status_message == seen.append
    del task.set_status_message


# -- namespaces and the registry -----------------------------------------------------------


def test_task_namespace_and_family() -> None:
    class InNamespace(workers.Task):
        task_namespace = "etl"

    class Inherits(InNamespace):
        pass

    assert InNamespace.get_task_family() == "etl.InNamespace"
    assert InNamespace.task_family == "etl.InNamespace"
    assert Inherits().task_family == "etl.Inherits"
    assert registry.get_task_class("etl.Inherits") is Inherits


def test_module_namespace_functions() -> None:
    workers.namespace("scoped", scope=__name__)
    try:

        class Scoped(workers.Task):
            pass

    finally:
        workers.namespace(None, scope=__name__)
    assert Scoped.get_task_family() == "scoped.Scoped"
    workers.auto_namespace(scope=__name__)
    try:

        class Auto(workers.Task):
            pass

    finally:
        workers.namespace(None, scope=__name__)
    assert Auto.get_task_family() == f"{__name__}.Auto"


def test_registry_lookup_errors() -> None:
    with pytest.raises(TaskClassNotFoundError, match="Did you mean: Copy"):
        registry.get_task_class("Copyy")

    def define() -> type:
        class Twice(workers.Task):
            pass

        return Twice

    first, second = define(), define()
    assert registry.get_task_class("Twice") is second  # redefinition: the later one wins
    assert first is not second

    class Twice(workers.Task):  # a different class with the same family
        pass

    with pytest.raises(AmbiguousTaskClassError, match="'Twice' is ambiguous"):
        registry.get_task_class("Twice")
    registry.unregister(Twice)

    class SubTwice(second):
        pass

    SubTwice.__name__ = "Twice"
    assert registry.get_task_class("Twice") is SubTwice  # a subclass overrides its base
    assert "Twice" in registry.task_names()


# -- dynamic dependencies ----------------------------------------------------------------


class Part(workers.Task):
    n = workers.IntParameter()
    root = workers.Parameter()

    def output(self):
        return LocalTarget(Path(self.root) / f"part{self.n}")

    def run(self):
        with self.output().open("w") as out:
            out.write(str(self.n))


class Combine(workers.Task):
    root = workers.Parameter()

    def output(self):
        return LocalTarget(Path(self.root) / "all")

    def run(self):
        first = yield Part(n=1, root=self.root)
        rest = yield [Part(n=2, root=self.root), Part(n=3, root=self.root)]
        texts = [Path(t.path).read_text() for t in [first, *rest]]
        with self.output().open("w") as out:
            out.write("+".join(texts))


def test_run_driver_pauses_for_missing_dynamic_dependencies(tmp_path: Path) -> None:
    task = Combine(root=str(tmp_path))
    driver = RunDriver(task)
    step = driver.step()
    assert not step.done and step.missing == [Part(n=1, root=str(tmp_path))]
    assert driver.step().missing == step.missing  # still missing: asks again
    Part(n=1, root=str(tmp_path)).run()
    Part(n=3, root=str(tmp_path)).run()
    step = driver.step()
    assert step.missing == [Part(n=2, root=str(tmp_path))]
    assert len(step.requested) == 2
    Part(n=2, root=str(tmp_path)).run()
    assert driver.step().done
    assert (tmp_path / "all").read_text() == "1+2+3"
    assert driver.step().done


def test_run_driver_with_plain_run_and_complete_dependencies(tmp_path: Path) -> None:
    part = Part(n=9, root=str(tmp_path))
    assert RunDriver(part).step().done
    assert part.complete()

    class UsesDone(workers.Task):
        def run(self):
            target = yield workers.DynamicRequirements(part, lambda complete: complete(part))
            assert target == part.output()

    assert RunDriver(UsesDone()).step().done


def test_run_driver_rejects_non_tasks() -> None:
    class YieldsJunk(workers.Task):
        def run(self):
            yield "junk"

    with pytest.raises(InvalidDependencyError, match=r"YieldsJunk\(\)\.run\(\) yielded 'junk'"):
        RunDriver(YieldsJunk()).step()


def test_flatten_helpers(tmp_path: Path) -> None:
    assert workers.flatten({"a": [1, (2, 3)], "b": None, "c": "str"}) == [1, 2, 3, "str"]
    assert workers.flatten(None) == []

    class Group(workers.WrapperTask):
        def requires(self):
            return [Part(n=1, root=str(tmp_path)), Part(n=2, root=str(tmp_path))]

    outputs = workers.flatten_output(Group())
    assert [Path(t.path).name for t in outputs] == ["part1", "part2"]
    assert workers.getpaths({"x": Part(n=1, root=str(tmp_path))}) == {
        "x": LocalTarget(tmp_path / "part1")
    }


# -- events ------------------------------------------------------------------------------


def test_signals_and_event_handlers_fire() -> None:
    received: list[tuple] = []

    def on_any(signal, sender, task, **kwargs):
        received.append((signal, sender, task, kwargs))

    task = Copy(src="a", dst="b")
    handled: list[tuple] = []

    @Copy.event_handler(workers.Event.FAILURE)
    def luigi_style(task, exception):
        handled.append((task, exception))

    signals = [events.task_start, events.task_success, events.task_failure]
    signals.append(events.task_processing_time)
    for signal in signals:
        signal.connect(on_any)
    try:
        events.fire_start(task)
        events.fire_success(task)
        try:
            raise ValueError("bad input")
        except ValueError as exc:
            error = exc
            events.fire_failure(task, exc)
        events.fire_processing_time(task, 1.5)
    finally:
        for signal in signals:
            signal.disconnect(on_any)
        Copy.remove_event_handler(workers.Event.FAILURE, luigi_style)

    assert [r[0] for r in received] == signals
    assert all(r[1] is Copy and r[2] is task for r in received)
    failure_kwargs = received[2][3]
    assert failure_kwargs["exception"] is error
    assert "ValueError: bad input" in failure_kwargs["traceback"]
    assert received[3][3] == {"seconds": 1.5}
    assert handled == [(task, error)]


def test_a_failing_receiver_does_not_break_the_run(caplog: pytest.LogCaptureFixture) -> None:
    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    events.task_success.connect(broken)
    try:
        events.fire_success(Copy(src="a", dst="b"))
    finally:
        events.task_success.disconnect(broken)
    assert "receiver bug" in caplog.text


def test_on_failure_text() -> None:
    try:
        raise KeyError("k")
    except KeyError as exc:
        text = Copy(src="a", dst="b").on_failure(exc)
    assert text.startswith("Runtime error:\nTraceback")
    assert "KeyError: 'k'" in text

"""Property-based fuzzing of Luigi's protocol at /api/<method>.

Hypothesis generates sequences of calls to every method of ``scheduler.rpc``
(and unknown ones), with argument dicts built from the methods' own parameter
names: well-typed values over a small pool of worker and task ids (so calls act
on the same rows and build up state), mutated values of any JSON type, extra
keys, raw non-JSON ``data``. Every answer must be below 500, and the database
must satisfy the scheduler's invariants after every sequence.
"""

from __future__ import annotations

import inspect
import json

from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import rpc
from scheduler.service.invariants import violations
from scheduler.service.tasks import parse_add_task

MIN_REQUESTS = 1000
EXAMPLES = 520  # sequences of 2 to 4 calls: at least 1,040, about 1,560 requests

WORKERS = ["fuzz-w1", "fuzz-w2", "fuzz-w3"]
TASK_IDS = [
    *(f"Fuzz_{i}" for i in range(5)),
    "Fuzz_../../../etc/passwd",
    "Fuzz_'); DROP TABLE pl_scheduler_task; --",
    "Fuzz_\u00e9\u4e2d\U0001f600",
]
STATUSES = ["PENDING", "RUNNING", "DONE", "FAILED", "DISABLED", "UNKNOWN", "BATCH_RUNNING", ""]
RESOURCES = ["cpu", "gpu", "io"]

ARGUMENTS = sorted(
    {
        name
        # add_task's arguments are parse_add_task's (add_task and add_tasks share it).
        for func in [*rpc.METHODS.values(), parse_add_task]
        for name, param in inspect.signature(func).parameters.items()
        if name != "ctx" and param.kind is not inspect.Parameter.VAR_KEYWORD
    }
    | {"resources", "current_tasks"}
)

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # past 64 bits too
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(st.characters(exclude_categories=()), max_size=6),  # NUL, lone surrogates
)
any_json = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
task_ids = st.sampled_from(TASK_IDS)
id_list = st.lists(task_ids, max_size=4)
TYPED = {
    "worker": st.sampled_from(WORKERS),
    "task_id": task_ids,
    "status": st.sampled_from(STATUSES),
    "upstream_status": st.sampled_from(["", "UPSTREAM_FAILED", "UPSTREAM_DISABLED"]),
    "deps": id_list,
    "new_deps": id_list,
    "current_tasks": id_list,
    "resources": st.dictionaries(st.sampled_from(RESOURCES), st.integers(0, 3), max_size=2),
    "decrease_resources": st.dictionaries(st.sampled_from(RESOURCES), st.integers(0, 3)),
    "resource": st.sampled_from(RESOURCES),
    "amount": st.integers(0, 4),
    "priority": st.integers(-5, 5),
    "family": st.sampled_from(["Fuzz", "Other"]),
    "params": st.dictionaries(st.sampled_from(["a", "b"]), st.text(max_size=10), max_size=2),
    "runnable": st.booleans(),
    "assistant": st.booleans(),
    "batchable": st.booleans(),
    "progress_percentage": st.integers(0, 100),
    "host": st.just("fuzz-host"),
}
# add_tasks: lists of add_task argument objects, some of them with a bad value.
TYPED["tasks"] = st.lists(
    st.fixed_dictionaries(
        {"task_id": task_ids},
        optional={
            name: TYPED[name] for name in ("status", "deps", "priority", "runnable", "resources")
        }
        | {"expl": any_json},
    ),
    max_size=4,
)


well_typed = st.fixed_dictionaries(
    {"worker": TYPED["worker"]}, optional={name: TYPED[name] for name in TYPED if name != "worker"}
)


@st.composite
def mutated(draw: st.DrawFn) -> dict:
    """A well-typed call with one argument (any of the methods' names) of any JSON type."""
    result = draw(well_typed)
    result[draw(st.sampled_from(ARGUMENTS))] = draw(any_json)
    return result


random_keys = st.dictionaries(
    st.sampled_from(ARGUMENTS) | st.text(max_size=12), any_json, max_size=5
)
arguments = st.one_of(well_typed, well_typed, well_typed, mutated(), mutated(), random_keys)
methods = st.sampled_from([*rpc.METHODS, "no_such_method", "update_metrics_task_started"])
raw_data = st.one_of(st.text(max_size=40), st.just("{"), st.just("[]"), st.just("null"))
call = st.tuples(
    methods,
    st.sampled_from(["GET", "POST"]),
    st.one_of(arguments.map(json.dumps), arguments.map(json.dumps), raw_data),
)

sent: list[int] = []


def test_fuzzed_protocol_calls_never_answer_5xx_and_keep_the_invariants(transactional_db):
    client = Client()
    answers: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(call, min_size=2, max_size=4))
    def scenario(calls: list[tuple[str, str, str]]) -> None:
        for method, verb, data in calls:
            path = f"/api/{method}"
            reply = (
                client.get(path, {"data": data})
                if verb == "GET"
                else client.post(path, {"data": data})
            )
            sent.append(reply.status_code)
            answers[reply.status_code] = answers.get(reply.status_code, 0) + 1
            assert reply.status_code < 500, (method, verb, data, reply.content[:2000])
            assert reply["Content-Type"].startswith("application/json")
        assert violations() == []

    scenario()
    assert len(sent) >= MIN_REQUESTS, answers
    assert sum(n for code, n in answers.items() if code >= 500) == 0
    assert answers.get(200, 0) > len(sent) // 4, answers  # most calls did something
    print(f"fuzzed /api/: {len(sent)} requests, answers {sorted(answers.items())}")

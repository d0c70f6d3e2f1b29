"""Checking run requests: the allow-list, the family, the task's parameter types."""

from __future__ import annotations

import pytest

from workers.run_requests import RunRequestError, check, param_args


def refused(**request) -> RunRequestError:
    with pytest.raises(RunRequestError) as caught:
        check(**request)
    return caught.value


def test_a_good_request_carries_the_root_task_id_and_the_runworker_arguments():
    checked = check("examples.daily", "DailyReport", {"date": "2026-11-21", "days": 2}, 3)
    assert checked.root_task_id.startswith("DailyReport_2026_11_21_2_")
    assert checked.runworker_args() == [
        "--module",
        "examples.daily",
        "DailyReport",
        "--date=2026-11-21",
        "--days=2",
        "--workers",
        "3",
    ]


def test_values_of_any_json_type_become_command_line_text():
    assert param_args({"flag": True, "n": 3, "xs": [1, 2], "s": "a b"}) == [
        "--flag=true",
        "--n=3",
        "--xs=[1, 2]",
        "--s=a b",
    ]


def test_a_module_outside_the_allow_list_is_refused(settings):
    settings.PIPELINES_ALLOWED_MODULES = ["examples.daily"]
    error = refused(module="os", family="DailyReport")
    assert error.code == "module_not_allowed"
    assert "'os' is not in PIPELINES_ALLOWED_MODULES (allowed: examples.daily)" in error.message
    # a package entry allows its submodules, not its siblings by prefix
    settings.PIPELINES_ALLOWED_MODULES = ["examples"]
    assert check("examples.daily", "DailyReport", {"date": "2026-11-21"}).family == "DailyReport"
    assert refused(module="examples_other", family="X").code == "module_not_allowed"


def test_nothing_is_allowed_by_default(settings):
    del settings.PIPELINES_ALLOWED_MODULES
    assert refused(module="examples.daily", family="DailyReport").code == "module_not_allowed"


def test_an_allowed_module_that_does_not_import_is_refused(settings):
    settings.PIPELINES_ALLOWED_MODULES = ["examples.nope"]
    error = refused(module="examples.nope", family="X")
    assert error.code == "unknown_module"
    assert "cannot import module 'examples.nope'" in error.message


def test_an_unknown_family_is_refused():
    error = refused(module="examples.daily", family="DailyReprt", params={})
    assert error.code == "unknown_family"
    assert "module 'examples.daily' defines no task family 'DailyReprt'" in error.message
    assert "Did you mean: DailyReport?" in error.message


def test_the_family_is_looked_up_in_the_module_not_in_the_global_registry():
    from workers import Task
    from workers.registry import unregister

    class DailyReport(Task):  # same family name, another module
        pass

    try:
        checked = check("examples.daily", "DailyReport", {"date": "2026-11-21"})
    finally:
        unregister(DailyReport)
    assert checked.root_task_id.startswith("DailyReport_2026_11_21_7_")


def test_a_family_from_another_module_is_refused():
    import tests.runs.pipelines  # noqa: F401 - registers Steps

    error = refused(module="examples.daily", family="Steps")
    assert error.code == "unknown_family"
    assert "defines no task family 'Steps'" in error.message


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"date": "yesterday"}, "--date expects a date"),
        ({"date": "2026-11-21", "days": "many"}, "--days expects"),
        ({"date": "2026-11-21", "colour": "red"}, "unknown option --colour"),
        ({}, "missing required parameter --date"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(params, named):
    error = refused(module="examples.daily", family="DailyReport", params=params)
    assert error.code == "bad_parameter"
    assert named in error.message


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        ({"module": "", "family": "DailyReport"}, "'module' is required"),
        ({"module": "examples.daily", "family": None}, "'family' is required"),
        ({"module": "examples.daily", "family": "DailyReport", "params": [1]}, "'params'"),
        ({"module": "examples.daily", "family": "DailyReport", "workers": 0}, "'workers'"),
        ({"module": "examples.daily", "family": "DailyReport", "workers": "2"}, "'workers'"),
    ],
)
def test_malformed_requests_are_refused(request_, named):
    error = refused(**request_)
    assert error.code == "bad_request"
    assert named in error.message

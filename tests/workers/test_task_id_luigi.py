"""Task ids and parameter texts match Luigi 3.8.1 exactly (spec section 5).

Each case defines the same task class in both libraries (same family name,
unique per case) and compares task_id, to_str_params, repr and visibilities.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import luigi
import luigi.parameter
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workers
import workers.parameter


class Color(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = 3


@dataclass
class Case:
    family: str
    params: dict[str, tuple[str, dict[str, Any]]]
    values: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()
    strs: dict[str, Any] | None = None  # instantiate with from_str_params instead
    namespace: str | None = None


def build(lib: Any, case: Case) -> type:
    body: dict[str, Any] = {}
    for name, (type_name, kwargs) in case.params.items():
        kwargs = dict(kwargs)
        if "visibility" in kwargs:
            kwargs["visibility"] = lib.parameter.ParameterVisibility(kwargs["visibility"])
        body[name] = getattr(lib.parameter, type_name)(**kwargs)
    if case.namespace is not None:
        body["task_namespace"] = case.namespace
    return type(case.family, (lib.Task,), body)


def instantiate(cls: Any, case: Case) -> Any:
    if case.strs is not None:
        return cls.from_str_params(case.strs)
    return cls(*case.args, **case.values)


P = "Parameter"
D = datetime.date
DT = datetime.datetime
LONG = "x" * 40 + "-tail-" + "y" * 1000

CASES = [
    Case("CmpStr", {"name": (P, {})}, {"name": "hello"}),
    Case("CmpEmpty", {"name": (P, {})}, {"name": ""}),
    Case("CmpNoParams", {}),
    Case("CmpStrParam", {"s": ("StrParameter", {})}, {"s": "plain"}),
    Case("CmpInt", {"n": ("IntParameter", {}), "m": ("IntParameter", {})}, {"n": 42, "m": -7}),
    Case(
        "CmpFloat",
        {"f": ("FloatParameter", {}), "g": ("FloatParameter", {})},
        {"f": 0.5, "g": 1e20},
    ),
    Case("CmpFloatStr", {"f": ("FloatParameter", {})}, strs={"f": "3"}),
    Case("CmpBool", {"a": ("BoolParameter", {}), "b": ("BoolParameter", {})}, {"a": True}),
    Case("CmpDate", {"day": ("DateParameter", {})}, {"day": D(2024, 1, 1)}),
    Case("CmpDateFromDatetime", {"day": ("DateParameter", {})}, {"day": DT(2024, 2, 29, 23, 59)}),
    Case("CmpDateInterval2", {"day": ("DateParameter", {"interval": 2})}, {"day": D(2024, 3, 9)}),
    Case("CmpMonth", {"m": ("MonthParameter", {})}, {"m": D(2024, 3, 15)}),
    Case("CmpMonthStr", {"m": ("MonthParameter", {"interval": 5})}, strs={"m": "2024-11"}),
    Case("CmpYear", {"y": ("YearParameter", {})}, {"y": D(2024, 6, 1)}),
    Case("CmpHour", {"h": ("DateHourParameter", {})}, {"h": DT(2024, 1, 1, 10, 37)}),
    Case(
        "CmpMinute",
        {"t": ("DateMinuteParameter", {"interval": 15})},
        {"t": DT(2024, 1, 1, 10, 37, 15)},
    ),
    Case("CmpSecond", {"t": ("DateSecondParameter", {})}, {"t": DT(2024, 1, 1, 1, 2, 3, 999)}),
    Case("CmpMinuteStr", {"t": ("DateMinuteParameter", {})}, strs={"t": "2024-05-06T0708"}),
    Case(
        "CmpIntervalRange",
        {"i": ("DateIntervalParameter", {})},
        strs={"i": "2024-01-01-2024-01-08"},
    ),
    Case("CmpIntervalWeek", {"i": ("DateIntervalParameter", {})}, strs={"i": "2024-W05"}),
    Case("CmpIntervalMonth", {"i": ("DateIntervalParameter", {})}, strs={"i": "2024-01"}),
    Case("CmpIntervalYear", {"i": ("DateIntervalParameter", {})}, strs={"i": "2024"}),
    Case("CmpIntervalDay", {"i": ("DateIntervalParameter", {})}, strs={"i": "2024-01-05"}),
    Case(
        "CmpTimedelta",
        {"d": ("TimeDeltaParameter", {})},
        {"d": datetime.timedelta(days=9, hours=3, seconds=7)},
    ),
    Case("CmpTimedeltaIso", {"d": ("TimeDeltaParameter", {})}, strs={"d": "P1DT2H30M"}),
    Case("CmpTimedeltaWords", {"d": ("TimeDeltaParameter", {})}, strs={"d": "1 week 2 days 3 h"}),
    Case("CmpTimedeltaSecs", {"d": ("TimeDeltaParameter", {})}, strs={"d": "90.5"}),
    Case("CmpEnum", {"c": ("EnumParameter", {"enum": Color})}, {"c": Color.GREEN}),
    Case("CmpEnumStr", {"c": ("EnumParameter", {"enum": Color})}, strs={"c": "BLUE"}),
    Case(
        "CmpEnumList",
        {"c": ("EnumListParameter", {"enum": Color})},
        {"c": (Color.RED, Color.BLUE, Color.RED)},
    ),
    Case("CmpChoice", {"c": ("ChoiceParameter", {"choices": ["a", "b"]})}, {"c": "b"}),
    Case(
        "CmpChoiceInt",
        {"c": ("ChoiceParameter", {"choices": [1, 2, 3], "var_type": int})},
        strs={"c": "2"},
    ),
    Case(
        "CmpChoiceList", {"c": ("ChoiceListParameter", {"choices": ["x", "y"]})}, strs={"c": "y,x"}
    ),
    Case(
        "CmpDict",
        {"d": ("DictParameter", {})},
        {"d": {"b": {"x": [1, 2]}, "a": "é", "n": None, "f": 1.5}},
    ),
    Case("CmpDictStr", {"d": ("DictParameter", {})}, strs={"d": '{"z": 1, "a": {"k": [true]}}'}),
    Case("CmpList", {"xs": ("ListParameter", {})}, {"xs": [1, "two", [3, {"k": None}]]}),
    Case("CmpListStr", {"xs": ("ListParameter", {})}, strs={"xs": '["a","b"]'}),
    Case("CmpTuple", {"t": ("TupleParameter", {})}, {"t": ((1, 2), (3, 4))}),
    Case("CmpTupleJson", {"t": ("TupleParameter", {})}, strs={"t": "[[1, 2], [3, 4]]"}),
    Case("CmpTupleLiteral", {"t": ("TupleParameter", {})}, strs={"t": "((1,2),(3,'a'))"}),
    Case(
        "CmpNumerical",
        {
            "n": ("NumericalParameter", {"var_type": int, "min_value": 0, "max_value": 10}),
            "x": ("NumericalParameter", {"var_type": float, "min_value": 0.0, "max_value": 1.0}),
        },
        strs={"n": "5", "x": "0.25"},
    ),
    Case(
        "CmpOptional",
        {"a": ("OptionalParameter", {}), "b": ("OptionalIntParameter", {})},
        {"b": 3},
    ),
    Case("CmpOptionalNone", {"a": ("OptionalParameter", {})}, {"a": None}),
    Case("CmpPath", {"p": ("PathParameter", {})}, {"p": Path("/tmp/some dir/x.csv")}),
    Case("CmpUnicode", {"name": (P, {})}, {"name": "日本語のテキスト🚀 and ünïcödé"}),
    Case("CmpLong", {"a": (P, {}), "b": (P, {})}, {"a": LONG, "b": "é" * 30}),
    Case(
        "CmpFourParams",
        {"d": (P, {}), "c": (P, {}), "b": (P, {}), "a": (P, {})},
        {"a": "1", "b": "2", "c": "3", "d": "4-not-in-summary"},
    ),
    Case(
        "CmpVisibility",
        {
            "public": (P, {}),
            "hidden": (P, {"visibility": 1}),
            "private": (P, {"visibility": 2}),
            "insig": (P, {"significant": False}),
        },
        {"public": "p", "hidden": "h", "private": "s", "insig": "i"},
    ),
    Case("CmpPositional", {"a": (P, {}), "b": ("IntParameter", {})}, args=("first", 2)),
    Case(
        "CmpNotPositional",
        {"a": (P, {"positional": False}), "b": (P, {})},
        {"a": "kw"},
        args=("pos",),
    ),
    Case(
        "CmpDefaults",
        {
            "a": (P, {"default": "dflt"}),
            "b": ("IntParameter", {"default": 3}),
            "c": ("ListParameter", {"default": [1, 2]}),
            "d": ("DateParameter", {"default": D(2020, 2, 2)}),
        },
    ),
    Case("CmpBatch", {"n": ("IntParameter", {"batch_method": max})}, strs={"n": ["3", "9", "1"]}),
    Case("Report", {"x": (P, {})}, {"x": "1"}, namespace="cmp.deep.ns"),
    Case("CmpEmptyNs", {"x": (P, {})}, {"x": "1"}, namespace=""),
]


@pytest.mark.parametrize("case", CASES, ids=[case.family for case in CASES])
def test_task_matches_luigi(case: Case) -> None:
    theirs = instantiate(build(luigi, case), case)
    ours = instantiate(build(workers, case), case)

    assert ours.task_id == theirs.task_id
    assert ours.task_family == theirs.task_family
    assert ours.to_str_params() == theirs.to_str_params()
    assert ours.to_str_params(only_significant=True, only_public=True) == theirs.to_str_params(
        only_significant=True, only_public=True
    )
    assert ours.param_visibilities() == theirs._get_param_visibilities()
    if not any(kw.get("visibility") == 2 for _, kw in case.params.values()):
        assert repr(ours) == repr(theirs)  # ours never shows private values
        # what a Luigi worker sends can be loaded back into the same task
        assert type(ours).from_str_params(theirs.to_str_params()).task_id == theirs.task_id


def test_spec_example_1_extract() -> None:
    class Extract(workers.Task):
        date = workers.DateParameter()
        source = workers.Parameter()

    task = Extract(date=datetime.date(2024, 1, 1), source="db")
    assert task.task_id == "Extract_2024_01_01_db_5fa0570f7f"


def test_spec_example_2_namespaced_report() -> None:
    class Report(workers.Task):
        task_namespace = "analytics"
        region = workers.Parameter()
        day = workers.DateParameter()
        columns = workers.ListParameter()
        alpha = workers.FloatParameter(default=0.5)
        verbose = workers.BoolParameter(significant=False)
        secret = workers.Parameter(visibility=workers.ParameterVisibility.PRIVATE, default="s")
        hidden = workers.Parameter(visibility=workers.ParameterVisibility.HIDDEN, default="h")

    task = Report(
        region="eu-west/with spaces and more",
        day=datetime.date(2024, 3, 9),
        columns=["a", "b"],
        verbose=True,
    )
    assert task.task_id == "analytics.Report_0_5___a____b___2024_03_09_83ee922764"
    assert task.to_str_params() == {
        "region": "eu-west/with spaces and more",
        "day": "2024-03-09",
        "columns": '["a", "b"]',
        "alpha": "0.5",
        "verbose": "True",
        "hidden": "h",
    }
    assert task.param_visibilities() == {
        "region": 0,
        "day": 0,
        "columns": 0,
        "alpha": 0,
        "verbose": 0,
        "hidden": 1,
    }


def test_spec_parameterless_and_unicode_examples() -> None:
    class Top(workers.Task):
        pass

    class U(workers.Task):
        name = workers.Parameter()

    assert Top().task_id == "Top__99914b932b"
    assert U(name="café").task_id == "U_caf__2650e617ef"


def test_config_defaults_match_luigi(luigi_cfg) -> None:
    case = Case(
        "CmpFromConfig",
        {
            "day": ("DateParameter", {}),
            "n": ("IntParameter", {"default": 1}),
            "tags": ("ListParameter", {}),
        },
    )
    section = {"day": "2024-05-06", "n": "12", "tags": '["x", "y"]'}
    luigi_cfg("[CmpFromConfig]\n" + "".join(f"{k} = {v}\n" for k, v in section.items()))
    config = luigi.configuration.get_config()
    config.add_section("CmpFromConfig")
    try:
        for key, value in section.items():
            config.set("CmpFromConfig", key, value)
        theirs = instantiate(build(luigi, case), case)
    finally:
        config.remove_section("CmpFromConfig")
    ours = instantiate(build(workers, case), case)
    assert ours.to_str_params() == theirs.to_str_params()
    assert ours.task_id == theirs.task_id


class _HypoLuigi(luigi.Task):
    a = luigi.Parameter()
    b = luigi.IntParameter()
    c = luigi.Parameter(default="")


class _HypoOurs(workers.Task):
    a = workers.Parameter()
    b = workers.IntParameter()
    c = workers.Parameter(default="")


_HypoOurs.__name__ = _HypoLuigi.__name__


@settings(max_examples=200, deadline=None)
@given(a=st.text(), b=st.integers(), c=st.text(max_size=40))
def test_random_values_match_luigi(a: str, b: int, c: str) -> None:
    assert _HypoOurs(a=a, b=b, c=c).task_id == _HypoLuigi(a=a, b=b, c=c).task_id


@settings(max_examples=100, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_random_dicts_match_luigi(value: Any) -> None:
    case = Case("CmpHypoDict", {"d": ("DictParameter", {})}, {"d": {"v": value}})
    workers.clear_instance_cache()
    luigi.task_register.Register.clear_instance_cache()
    assert instantiate(build(workers, case), case).task_id == (
        instantiate(build(luigi, case), case).task_id
    )

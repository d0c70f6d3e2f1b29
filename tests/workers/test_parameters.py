"""Parameter parsing, serialisation, normalisation, errors and configured defaults."""

from __future__ import annotations

import datetime
import enum
from pathlib import Path
from typing import Any

import pytest

import workers
from workers import date_interval
from workers.errors import (
    DuplicateParameterError,
    MissingParameterError,
    ParameterError,
    TaskDefinitionError,
    UnknownParameterError,
    UnparsableParameterError,
    WorkersError,
)
from workers.parameter import FrozenOrderedDict


class Size(enum.Enum):
    S = "small"
    L = "large"


ROUND_TRIPS: list[tuple[workers.Parameter, str, Any]] = [
    (workers.Parameter(), "text", "text"),
    (workers.IntParameter(), "-12", -12),
    (workers.FloatParameter(), "0.25", 0.25),
    (workers.BoolParameter(), "True", True),
    (workers.BoolParameter(), "False", False),
    (workers.DateParameter(), "2024-02-29", datetime.date(2024, 2, 29)),
    (workers.MonthParameter(), "2024-07", datetime.date(2024, 7, 1)),
    (workers.YearParameter(), "2024", datetime.date(2024, 1, 1)),
    (workers.DateHourParameter(), "2024-01-02T03", datetime.datetime(2024, 1, 2, 3)),
    (workers.DateMinuteParameter(), "2024-01-02T0304", datetime.datetime(2024, 1, 2, 3, 4)),
    (workers.DateSecondParameter(), "2024-01-02T030405", datetime.datetime(2024, 1, 2, 3, 4, 5)),
    (workers.TimeDeltaParameter(), "1 w 2 d 3 h 4 m 5 s", datetime.timedelta(9, 11045)),
    (workers.EnumParameter(enum=Size), "L", Size.L),
    (workers.EnumListParameter(enum=Size), "S,L", (Size.S, Size.L)),
    (workers.ChoiceParameter(choices=["a", "b"]), "b", "b"),
    (workers.ChoiceListParameter(choices=["a", "b"]), "b,a", ("b", "a")),
    (workers.DictParameter(), '{"b": 1, "a": [1, 2]}', FrozenOrderedDict(b=1, a=(1, 2))),
    (workers.ListParameter(), '[1, "x", null]', (1, "x", None)),
    (workers.TupleParameter(), "[[1, 2], [3]]", ((1, 2), (3,))),
    (workers.NumericalParameter(var_type=int, min_value=1, max_value=5), "4", 4),
    (workers.OptionalParameter(), "", None),
    (workers.OptionalIntParameter(), "7", 7),
    (workers.PathParameter(), "/data/x.csv", Path("/data/x.csv")),
]


@pytest.mark.parametrize(("param", "text", "value"), ROUND_TRIPS)
def test_parse_serialize_round_trip(param: workers.Parameter, text: str, value: Any) -> None:
    parsed = param.normalize(param.parse(text))
    assert parsed == value
    assert param.serialize(parsed) == text


@pytest.mark.parametrize(
    ("text", "kind", "first", "after"),
    [
        ("2024-01-01-2024-01-08", date_interval.Custom, (2024, 1, 1), (2024, 1, 8)),
        ("2024-W05", date_interval.Week, (2024, 1, 29), (2024, 2, 5)),
        ("2024-12", date_interval.Month, (2024, 12, 1), (2025, 1, 1)),
        ("2024", date_interval.Year, (2024, 1, 1), (2025, 1, 1)),
        ("2024-03-09", date_interval.Date, (2024, 3, 9), (2024, 3, 10)),
    ],
)
def test_date_interval_forms(text: str, kind: type, first: tuple, after: tuple) -> None:
    param = workers.DateIntervalParameter()
    interval = param.parse(text)
    assert isinstance(interval, kind)
    assert (interval.date_a, interval.date_b) == (datetime.date(*first), datetime.date(*after))
    assert param.serialize(interval) == text


def test_timedelta_forms() -> None:
    param = workers.TimeDeltaParameter()
    assert param.parse("P2W") == datetime.timedelta(weeks=2)
    assert param.parse("P1DT2H") == datetime.timedelta(days=1, hours=2)
    assert param.parse("3 hours 5 minutes") == datetime.timedelta(hours=3, minutes=5)
    assert param.parse("90") == datetime.timedelta(seconds=90)


def test_date_rounding_with_interval_and_start() -> None:
    weekly = workers.DateParameter(interval=7, start=datetime.date(2024, 1, 1))
    assert weekly.normalize(datetime.date(2024, 1, 10)) == datetime.date(2024, 1, 8)
    quarter_hours = workers.DateMinuteParameter(interval=15)
    assert quarter_hours.normalize(datetime.datetime(2024, 1, 1, 10, 37, 59, 5)) == (
        datetime.datetime(2024, 1, 1, 10, 30)
    )
    assert workers.MonthParameter().normalize(date_interval.Month(2024, 5)) == (
        datetime.date(2024, 5, 1)
    )


def test_values_are_frozen_and_hashable() -> None:
    class Frozen(workers.Task):
        d = workers.DictParameter()
        xs = workers.ListParameter()

    task = Frozen(d={"a": [1, {"b": 2}]}, xs=[[1], [2]])
    assert isinstance(task.d, FrozenOrderedDict)
    assert task.d["a"] == (1, FrozenOrderedDict(b=2))
    assert task.xs == ((1,), (2,))
    hash(task.d)


def test_bool_parameter_defaults_to_false() -> None:
    class Flag(workers.Task):
        on = workers.BoolParameter()

    assert Flag().on is False


def test_string_values_are_parsed_for_dates_and_enums() -> None:
    class Parsed(workers.Task):
        day = workers.DateParameter()
        size = workers.EnumParameter(enum=Size)

    task = Parsed(day="2024-01-31", size="S")
    assert task.day == datetime.date(2024, 1, 31)
    assert task.size is Size.S


def test_visibility_values() -> None:
    assert [v.value for v in workers.ParameterVisibility] == [0, 1, 2]
    assert workers.Parameter(visibility=7).visibility == workers.ParameterVisibility.PUBLIC


# -- error messages ----------------------------------------------------------------------


class DailyReport(workers.Task):
    date = workers.DateParameter()
    region = workers.Parameter(default="eu")


def test_unparsable_value_names_task_parameter_value_and_format() -> None:
    with pytest.raises(UnparsableParameterError) as info:
        DailyReport.from_str_params({"date": "2024-13-01"})
    assert str(info.value) == (
        "DailyReport: parameter 'date' expects a date as YYYY-MM-DD, got '2024-13-01'"
    )
    assert isinstance(info.value.__cause__, ValueError)
    assert isinstance(info.value, ParameterError | WorkersError)


def test_bad_value_in_code_is_reported_the_same_way() -> None:
    with pytest.raises(UnparsableParameterError, match=r"DailyReport: parameter 'date' expects"):
        DailyReport(date="yesterday")


def test_missing_parameter_names_family_and_parameter() -> None:
    with pytest.raises(MissingParameterError) as info:
        DailyReport()
    message = str(info.value)
    assert message.startswith("DailyReport: missing required parameter 'date'")
    assert "[DailyReport]" in message


def test_unknown_duplicate_and_too_many_parameters() -> None:
    with pytest.raises(UnknownParameterError, match=r"DailyReport: unknown parameter 'dat'"):
        DailyReport(dat=datetime.date(2024, 1, 1))
    with pytest.raises(DuplicateParameterError, match="'date' was given both"):
        DailyReport(datetime.date(2024, 1, 1), date=datetime.date(2024, 1, 1))
    with pytest.raises(UnknownParameterError, match="at most 2 positional"):
        DailyReport(datetime.date(2024, 1, 1), "eu", "extra")


@pytest.mark.parametrize(
    ("param", "text", "expected"),
    [
        (workers.IntParameter(), "1.5", "expects an integer, got '1.5'"),
        (workers.MonthParameter(), "2024-13", "expects a month as YYYY-MM"),
        (workers.DateIntervalParameter(), "soon", "expects a date interval as YYYY, YYYY-MM"),
        (workers.TimeDeltaParameter(), "a while", "expects a duration"),
        (workers.ChoiceParameter(choices=["a", "b"]), "c", "expects one of {a, b}, got 'c'"),
        (workers.EnumParameter(enum=Size), "M", "expects one of S, L, got 'M'"),
        (
            workers.NumericalParameter(var_type=int, min_value=0, max_value=10),
            "10",
            "expects a number (int in [0, 10)), got '10'",
        ),
        (workers.BoolParameter(), "yes", "expects a boolean (true or false), got 'yes'"),
        (workers.DictParameter(), "{oops", "expects a JSON object"),
    ],
)
def test_error_formats_per_type(param: workers.Parameter, text: str, expected: str) -> None:
    cls = type("ErrTask", (workers.Task,), {"value": param})
    with pytest.raises(UnparsableParameterError) as info:
        cls.from_str_params({"value": text})
    assert str(info.value).startswith("ErrTask: parameter 'value' ")
    assert expected in str(info.value)


def test_declaration_errors() -> None:
    with pytest.raises(TaskDefinitionError):
        workers.EnumParameter()
    with pytest.raises(TaskDefinitionError):
        workers.ChoiceParameter(choices=[1, "a"], var_type=int)
    with pytest.raises(TaskDefinitionError):
        workers.NumericalParameter(var_type=int, min_value=0)


def test_dict_parameter_schema_validates_values() -> None:
    import jsonschema

    param = workers.DictParameter(
        schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    )
    assert param.normalize({"n": 3})["n"] == 3
    with pytest.raises(jsonschema.ValidationError, match="'n' is a required property"):
        param.normalize({"m": 3})


# -- defaults from configuration ---------------------------------------------------------


class Configured(workers.Task):
    day = workers.DateParameter()
    batch_size = workers.IntParameter(default=10)
    tags = workers.ListParameter(default=[])


def test_defaults_from_luigi_cfg(luigi_cfg) -> None:
    luigi_cfg('[Configured]\nday = 2024-05-06\nbatch-size = 50\ntags = ["a"]\n')
    task = Configured()
    assert task.day == datetime.date(2024, 5, 6)
    assert task.batch_size == 50
    assert task.tags == ("a",)
    assert Configured(batch_size=1).batch_size == 1  # arguments win over configuration


def test_defaults_from_luigi_toml(luigi_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUIGI_CONFIG_PARSER", "toml")
    luigi_cfg('[Configured]\nday = "2024-05-07"\nbatch_size = 5\n', name="luigi.toml")
    task = Configured()
    assert (task.day, task.batch_size) == (datetime.date(2024, 5, 7), 5)


def test_defaults_from_django_settings_win_over_files(luigi_cfg, settings) -> None:
    luigi_cfg("[Configured]\nday = 2024-05-06\nbatch_size = 50\n")
    settings.PIPELINES_TASK_CONFIG = {"Configured": {"batch-size": "70", "tags": ["x", "y"]}}
    task = Configured()
    assert task.day == datetime.date(2024, 5, 6)
    assert task.batch_size == 70
    assert task.tags == ("x", "y")


def test_bad_configured_value_says_where_it_came_from(luigi_cfg) -> None:
    luigi_cfg("[Configured]\nday = 2024-13-01\n")
    with pytest.raises(UnparsableParameterError) as info:
        Configured()
    assert str(info.value) == (
        "Configured: parameter 'day' expects a date as YYYY-MM-DD, got '2024-13-01' "
        "(from [Configured] in the Luigi configuration)"
    )


def test_deprecated_config_path(luigi_cfg) -> None:
    class Legacy(workers.Task):
        host = workers.Parameter(config_path={"section": "database", "name": "host"})

    luigi_cfg("[database]\nhost = db.internal\n")
    assert Legacy().host == "db.internal"


def test_task_parameter_takes_a_registered_family() -> None:
    class Target_(workers.Task):
        task_namespace = "tp"

    class Meta(workers.Task):
        task_class = workers.TaskParameter()

    meta = Meta.from_str_params({"task_class": "tp.Target_"})
    assert meta.task_class is Target_
    assert meta.to_str_params() == {"task_class": "tp.Target_"}
    assert Meta(task_class=Target_) is meta

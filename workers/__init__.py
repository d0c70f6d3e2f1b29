"""The pipeline-authoring API, shaped like Luigi's: port a pipeline by changing imports.

    from workers import Task, LocalTarget, DateParameter

    class DailyReport(Task):
        date = DateParameter()

        def output(self):
            return LocalTarget(f"reports/{self.date:%Y-%m-%d}.csv")

        def run(self):
            with self.output().open("w") as out:
                out.write("...")

Importing this package does not import Django models, so pipeline modules can
be imported before Django's apps are ready.
"""

from workers import date_interval
from workers.db_target import DatabaseTarget, TaskCompletionTarget
from workers.dynamic import DynamicRequirements, RunDriver, RunStep
from workers.errors import (
    AmbiguousTaskClassError,
    DependencyCycleError,
    DependencyError,
    DuplicateParameterError,
    InvalidDependencyError,
    InvalidOutputError,
    MissingParameterError,
    ParameterError,
    TaskClassError,
    TaskClassNotFoundError,
    TaskDefinitionError,
    UnknownParameterError,
    UnparsableParameterError,
    UserCodeError,
    WorkersError,
)
from workers.events import Event
from workers.graph import DependencyGraph, build_graph
from workers.parameter import (
    BoolParameter,
    ChoiceListParameter,
    ChoiceParameter,
    DateHourParameter,
    DateIntervalParameter,
    DateMinuteParameter,
    DateParameter,
    DateSecondParameter,
    DictParameter,
    EnumListParameter,
    EnumParameter,
    FloatParameter,
    IntParameter,
    ListParameter,
    MonthParameter,
    NumericalParameter,
    OptionalBoolParameter,
    OptionalChoiceParameter,
    OptionalDictParameter,
    OptionalFloatParameter,
    OptionalIntParameter,
    OptionalListParameter,
    OptionalNumericalParameter,
    OptionalParameter,
    OptionalPathParameter,
    OptionalTupleParameter,
    Parameter,
    ParameterVisibility,
    PathParameter,
    StrParameter,
    TaskParameter,
    TimeDeltaParameter,
    TupleParameter,
    YearParameter,
)
from workers.registry import get_task_class
from workers.target import LocalTarget, Target
from workers.task import (
    Config,
    ExternalTask,
    Task,
    WrapperTask,
    auto_namespace,
    clear_instance_cache,
    disable_instance_cache,
    externalize,
    is_external,
    namespace,
)
from workers.util import flatten, flatten_output, getpaths

__all__ = [
    "AmbiguousTaskClassError",
    "BoolParameter",
    "ChoiceListParameter",
    "ChoiceParameter",
    "Config",
    "DatabaseTarget",
    "DateHourParameter",
    "DateIntervalParameter",
    "DateMinuteParameter",
    "DateParameter",
    "DateSecondParameter",
    "DependencyCycleError",
    "DependencyError",
    "DependencyGraph",
    "DictParameter",
    "DuplicateParameterError",
    "DynamicRequirements",
    "EnumListParameter",
    "EnumParameter",
    "Event",
    "ExternalTask",
    "FloatParameter",
    "IntParameter",
    "InvalidDependencyError",
    "InvalidOutputError",
    "ListParameter",
    "LocalTarget",
    "MissingParameterError",
    "MonthParameter",
    "NumericalParameter",
    "OptionalBoolParameter",
    "OptionalChoiceParameter",
    "OptionalDictParameter",
    "OptionalFloatParameter",
    "OptionalIntParameter",
    "OptionalListParameter",
    "OptionalNumericalParameter",
    "OptionalParameter",
    "OptionalPathParameter",
    "OptionalTupleParameter",
    "Parameter",
    "ParameterError",
    "ParameterVisibility",
    "PathParameter",
    "RunDriver",
    "RunStep",
    "StrParameter",
    "Target",
    "Task",
    "TaskClassError",
    "TaskClassNotFoundError",
    "TaskCompletionTarget",
    "TaskDefinitionError",
    "TaskParameter",
    "TimeDeltaParameter",
    "TupleParameter",
    "UnknownParameterError",
    "UnparsableParameterError",
    "UserCodeError",
    "WorkersError",
    "WrapperTask",
    "YearParameter",
    "auto_namespace",
    "build_graph",
    "clear_instance_cache",
    "date_interval",
    "disable_instance_cache",
    "externalize",
    "flatten",
    "flatten_output",
    "get_task_class",
    "getpaths",
    "is_external",
    "namespace",
]

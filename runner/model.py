"""The drill model: what a drill file means, typed and validated, plus suites and target files.

Pydantic v2 models (frozen, unknown keys forbidden) so that one definition gives validation and
the published JSON Schema (``drills schema``). Fault kinds, signals and rollback strategies come
from their registries, so adding one is one module. Line numbers are the loader's job: these
models see plain data. Pure: no I/O.
"""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    WithJsonSchema,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from runner import faults, rollbacks, signals
from runner.durations import PATTERN, format_duration, parse_duration
from runner.kinds import InjectVia

API_VERSION = "drills.release/v1"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["500ms", "90s", "5m"]}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- signals ------------------------------------------------------------------------------------


class SignalEntry(_Model):
    """One ``- signal-name: params`` item of a detect or recover list."""

    signal_name: ClassVar[str]
    value: Any

    @property
    def signal(self) -> signals.Signal:
        return signals.REGISTRY[self.signal_name]

    @property
    def params(self) -> Any:
        return self.value

    def describe(self) -> str:
        return self.signal.describe(self.value)


def _signal_entry_model(sig: signals.Signal) -> type[SignalEntry]:
    model = create_model(  # type: ignore[call-overload]
        "".join(p.title() for p in sig.name.split("-")) + "Signal",
        __base__=SignalEntry,
        __doc__=sig.summary,
        value=(sig.Params, Field(alias=sig.name, description=sig.summary)),
    )
    model.signal_name = sig.name
    return model  # type: ignore[no-any-return]


def _signal_tag(v: Any) -> str | None:
    if isinstance(v, SignalEntry):
        return v.signal_name
    if isinstance(v, dict) and len(v) == 1:
        key = next(iter(v))
        return key if isinstance(key, str) else None
    return None


SIGNAL_MODELS = {name: _signal_entry_model(sig) for name, sig in signals.REGISTRY.items()}
if TYPE_CHECKING:  # the union is built from the registry at run time; type checkers see the base
    AnySignal = SignalEntry
else:
    AnySignal = Annotated[
        Union[tuple(Annotated[m, Tag(name)] for name, m in SIGNAL_MODELS.items())],
        Discriminator(_signal_tag),
    ]


class _SignalSet(_Model):
    any_: tuple[AnySignal, ...] | None = Field(default=None, alias="any", min_length=1)
    all_: tuple[AnySignal, ...] | None = Field(default=None, alias="all", min_length=1)

    @field_validator("any_", "all_", mode="before")
    @classmethod
    def _given_means_a_list(cls, v: Any) -> Any:
        if v is None:  # 'all:' with nothing after it (a list that lost its indentation, typically)
            raise ValueError("expected a list of signals; got nothing (null)")
        return v

    @model_validator(mode="after")
    def _one_list(self) -> _SignalSet:
        if (self.any_ is None) == (self.all_ is None):
            raise ValueError("give exactly one of 'any' (first signal wins) or 'all' (every signal at once)")
        return self

    @property
    def mode(self) -> Literal["any", "all"]:
        return "any" if self.any_ is not None else "all"

    @property
    def signals(self) -> tuple[SignalEntry, ...]:
        return tuple(self.any_ if self.any_ is not None else self.all_ or ())


class DetectSpec(_SignalSet):
    """What counts as detection, and how long after injection to wait for it."""

    timeout: Duration = Field(description="How long after injection to wait for detection.")


class RecoverSpec(_SignalSet):
    """What recovery means, and how long after injection to wait for it."""

    timeout: Duration = Field(description="How long after injection to wait for recovery.")


# --- fault ---------------------------------------------------------------------------------------


class FaultSpecBase(_Model):
    type: str
    via: InjectVia = Field(description="How the fault is injected: git, helm or api.")
    params: Any
    wait_for_poll: bool = Field(
        default=False,
        alias="wait-for-poll",
        description="via git: wait for Argo CD's polling period instead of requesting a refresh.",
    )


def _fault_model(f: faults.Fault) -> type[FaultSpecBase]:
    return create_model(  # type: ignore[call-overload,no-any-return]
        "".join(p.title() for p in f.kind.split("-")) + "Fault",
        __base__=FaultSpecBase,
        __doc__=f.summary,
        type=(Literal[f.kind], Field(description=f.summary)),
        params=(f.Params, ...),
    )


FAULT_MODELS = {kind: _fault_model(f) for kind, f in faults.REGISTRY.items()}
if TYPE_CHECKING:
    AnyFault = FaultSpecBase
else:
    AnyFault = Annotated[
        Union[tuple(Annotated[m, Tag(kind)] for kind, m in FAULT_MODELS.items())],
        Discriminator("type"),
    ]

# --- the drill -----------------------------------------------------------------------------------

StrategyName = Literal[tuple(rollbacks.REGISTRY)]  # type: ignore[valid-type]


class Metadata(_Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=63, description="Lower-case letters, digits and '-'.")
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class TargetSpec(_Model):
    """The app under drill: an Argo CD Application or a plain Helm release, and its Deployment."""

    application: str | None = Field(default=None, description="Argo CD Application name.")
    release: str | None = Field(default=None, description="Helm release name (teams without Argo CD).")
    namespace: str = Field(pattern=NAME_PATTERN, max_length=63)
    deployment: str = Field(min_length=1)
    container: str | None = Field(default=None, description="Container to change; default: the first.")
    argocd_namespace: str = Field(default="argocd", alias="argocd-namespace")

    @model_validator(mode="after")
    def _one_owner(self) -> TargetSpec:
        if (self.application is None) == (self.release is None):
            raise ValueError("give exactly one of 'application' (Argo CD) or 'release' (plain Helm)")
        return self


class RollbackSpec(_Model):
    strategy: StrategyName = Field(description="How the fault is rolled back.")
    delay: Duration = Field(default=timedelta(0), description="Wait after detection before rolling back.")
    timeout: Duration = Field(default=timedelta(minutes=5), description="Limit for the rollback step itself.")


class ExpectSpec(_Model):
    detect_within: Duration | None = Field(default=None, alias="detect-within")
    recover_within: Duration | None = Field(default=None, alias="recover-within")


class GameDaySpec(_Model):
    """People in the loop: what the facilitator reads, when a hint appears, and a hard stop."""

    briefing: str = Field(default="", description="What the facilitator tells the team before the drill starts.")
    hint: str = Field(default="", description="A hint shown on the console after hint-after.")
    hint_after: Duration | None = Field(default=None, alias="hint-after")
    max_duration: Duration | None = Field(
        default=None, alias="max-duration",
        description="After this long the runner restores the target itself, whatever the team is doing.")


class DrillSpec(_Model):
    target: TargetSpec
    fault: AnyFault
    detect: DetectSpec
    rollback: RollbackSpec
    recover: RecoverSpec
    expect: ExpectSpec = Field(default_factory=ExpectSpec)
    gameday: GameDaySpec | None = None


class Drill(_Model):
    """One drill file document."""

    api_version: Literal["drills.release/v1"] = Field(alias="apiVersion")
    kind: Literal["Drill"]
    metadata: Metadata
    spec: DrillSpec


# --- suites and targets ---------------------------------------------------------------------------


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="24-hour time, e.g. 20:00")]


class ScheduleSpec(_Model):
    """When a suite runs: a cron expression in a time zone, or a fixed interval."""

    cron: str | None = Field(default=None, description="Five-field cron expression, e.g. '0 2 * * *'.")
    interval: Duration | None = Field(default=None, description="Run every this long instead of by cron.")
    timezone: str = Field(default="UTC", description="IANA time zone of the cron expression, e.g. Europe/Berlin.")
    jitter: Duration = Field(default=timedelta(0), description="Random delay up to this long, so runs do not pile up.")

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleSpec:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of 'cron' or 'interval'")
        if self.interval is not None and self.interval.total_seconds() < 60:
            raise ValueError("interval must be at least 1m: a drill takes minutes on a real cluster")
        return self


class WindowSpec(_Model):
    """When drills may run (e.g. nights only); a start after the end spans midnight."""

    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    start: HHMM
    end: HHMM
    timezone: str = "UTC"

    @field_validator("end")
    @classmethod
    def _not_empty(cls, end: str, info: ValidationInfo) -> str:
        if info.data.get("start") == end:
            raise ValueError(f"the window is empty: start and end are both {end}, so drills would never run")
        return end


class SelectorSpec(_Model):
    match_labels: dict[str, str] = Field(alias="matchLabels", min_length=1)
    from_: tuple[str, ...] = Field(default=("..",), alias="from", description="Folders to select from, relative to the suite file.")


class SuiteSpec(_Model):
    drills: tuple[str, ...] = Field(default=(), description="Drill files or folders, relative to the suite file.")
    selector: SelectorSpec | None = Field(default=None, description="Also run every drill whose labels match.")
    target: str | None = Field(default=None, description="Default target name for this suite.")
    on_failure: Literal["continue", "stop"] = Field(default="continue", alias="on-failure")
    schedule: ScheduleSpec | None = None
    window: WindowSpec | None = None

    @model_validator(mode="after")
    def _some_drills(self) -> SuiteSpec:
        if not self.drills and self.selector is None:
            raise ValueError("give 'drills' (paths) or a 'selector' (matchLabels), or both")
        return self


class SuiteMetadata(_Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class Suite(_Model):
    """An ordered list of drills."""

    api_version: Literal["drills.release/v1"] = Field(alias="apiVersion")
    kind: Literal["Suite"]
    metadata: SuiteMetadata
    spec: SuiteSpec


def drill_json_schema() -> dict[str, Any]:
    """The JSON Schema of a drill document, for editors."""
    schema = Drill.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://release-drills.dev/schemas/drill.schema.json"
    schema["title"] = "release-drills Drill"
    return schema

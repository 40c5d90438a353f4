"""Drill, suite and target files -> validated models, or every problem with file:line:col.

YAML is composed with the safe loader into nodes (which carry their line and column), turned
into plain data by a walker that also records where each value came from, refuses duplicate
keys and bounds alias expansion, then validated by the pydantic models. Pydantic's error
locations are mapped back to the YAML nodes and its messages rewritten as sentences. Semantic
checks that span fields (a rollback that cannot undo the fault, an expectation longer than its
timeout) come last. Nothing here raises on bad input except ``DrillDefinitionError`` with all
problems of all files at once. Pure except for reading the files it is given.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Iterable, Sequence, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag, ValidationError

from runner import faults, rollbacks, signals
from runner.durations import format_duration
from runner.errors import DrillDefinitionError, Problem
from runner.kinds import InjectVia
from runner.model import API_VERSION, Drill, Suite, drill_json_schema
from runner.targets.config import TargetsFile

MAX_BYTES = 1 << 20
"""Drill files are small; a 1 MiB cap stops a wrong path (a log, a binary) early."""
MAX_NODES = 20_000
"""Bound on values built from one file, so that aliases cannot expand into a billion laughs."""

MAX_DEPTH = 128
"""Bound on nesting (a drill nests 7 levels): PyYAML's composer and the walker below recurse, and
Python stops at 1000 frames (about 400 levels)."""

KINDS = ("Drill", "Suite", "Targets", "Responders")
Loc = tuple[Any, ...]


@dataclass(frozen=True)
class Document:
    """One validated YAML document."""

    path: Path
    index: int
    line: int
    kind: str
    model: Any  # Drill | Suite | dict for Targets (validated by runner.targets.config)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.documents += other.documents
        self.problems += other.problems

    def raise_if_problems(self) -> None:
        if self.problems:
            raise DrillDefinitionError(self.problems)

    @property
    def drills(self) -> list[Document]:
        return [d for d in self.documents if d.kind == "Drill"]


# --- YAML nodes -> data with marks -----------------------------------------------------------


class _Marks:
    """Where each path's key and value start (1-based line and column)."""

    def __init__(self) -> None:
        self.value: dict[Loc, tuple[int, int]] = {}
        self.key: dict[Loc, tuple[int, int]] = {}

    def at(self, loc: Loc, prefer_key: bool = False) -> tuple[int, int]:
        for i in range(len(loc), -1, -1):
            sub = loc[:i]
            if prefer_key and i == len(loc) and sub in self.key:
                return self.key[sub]
            if sub in self.value:
                return self.value[sub]
        return (1, 1)


_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")}


class _TooBig(Exception):
    pass


class _SafeLoader(yaml.SafeLoader):
    """The safe loader, refusing documents nested deeper than MAX_DEPTH before Python's recursion limit does."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested too deeply (more than {MAX_DEPTH} levels)",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _yaml_error(path: str, text: str, exc: yaml.YAMLError) -> Problem:
    """A YAML error at the place a person has to look."""
    if isinstance(exc, yaml.reader.ReaderError):  # carries a character offset, not a line
        before = text[: exc.position]
        line, col = _line_count(before), exc.position - max(before.rfind("\n"), before.rfind("\r"))
        ch = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Problem(path, line, col, "", f"not valid YAML: unacceptable character #x{ord(ch):04x} "
                                            f"({unicodedata.name(ch, 'a control character')})")
    if isinstance(exc, yaml.MarkedYAMLError):
        # "found unexpected end of stream": the opening quote or bracket is what needs fixing
        mark = (exc.context_mark if exc.context_mark and "end of stream" in (exc.problem or "")
                else exc.problem_mark or exc.context_mark)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return Problem(path, line, col, "", f"not valid YAML: {' '.join(filter(None, [exc.context, exc.problem]))}")
    return Problem(path, 1, 1, "", f"not valid YAML: {exc}")


def _line_count(text: str) -> int:
    """1 + the line breaks YAML sees in ``text`` (\\r\\n, \\r, \\n, NEL, LS, PS; not \\f or \\v)."""
    return len(_BREAKS.split(text))


_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        self.count = 0
        self.refused: set[Loc] = set()
        self.active: set[int] = set()  # ids of the nodes being built: an alias to one of them is a cycle
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, loc: Loc, marks: _Marks) -> Any:
        self.count += 1
        if self.count > MAX_NODES or len(loc) > MAX_DEPTH:  # an alias inside its own anchor nests without end
            raise _TooBig()
        marks.value.setdefault(loc, _pos(node))
        if node.tag not in _PLAIN_TAGS:
            line, col = _pos(node)
            self.problems.append(Problem(self.path, line, col, _dotted(loc),
                                         f"not valid YAML here: tag {node.tag!r} is not allowed (plain YAML only)"))
            self.refused.add(loc)
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            merges = [k for k, _ in node.value if k.tag == "tag:yaml.org,2002:merge"]
            try:
                self.constructor.flatten_mapping(node)
            except yaml.constructor.ConstructorError as exc:  # report at the '<<', not at the anchor it names
                line, col = _pos(merges[0] if merges else node)
                self.problems.append(Problem(self.path, line, col, _dotted(loc), f"not valid YAML: {exc.problem}"))
                self.refused.add(loc)
                return None
            for knode, vnode in node.value:
                key = self.build_scalar_key(knode)
                if key in out:
                    line, col = _pos(knode)
                    first = marks.key.get(loc + (key,), (0, 0))[0]
                    self.problems.append(Problem(self.path, line, col, _dotted(loc + (key,)),
                                                 f"duplicate key {key!r} (first defined on line {first})"))
                    continue
                marks.key[loc + (key,)] = _pos(knode)
                if id(vnode) in self.active or vnode is node:
                    line, col = _pos(knode)
                    self.problems.append(Problem(self.path, line, col, _dotted(loc + (key,)),
                                                 "alias refers to a mapping or list that contains it (a cycle)"))
                    self.refused.add(loc + (key,))
                    continue
                self.active.add(id(node))
                try:
                    out[key] = self.build(vnode, loc + (key,), marks)
                finally:
                    self.active.discard(id(node))
            return out
        if isinstance(node, yaml.SequenceNode):
            self.active.add(id(node))
            try:
                return [self.build(v, loc + (i,), marks) for i, v in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        return self.constructor.construct_object(node, deep=True)

    def build_scalar_key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            line, col = _pos(node)
            self.problems.append(Problem(self.path, line, col, "", "a mapping key must be plain text"))
            return f"<complex key line {line}>"
        key = self.constructor.construct_object(node)
        if not isinstance(key, str):  # 1:, ~:, yes:, 2026-01-05: are numbers, null, booleans, dates to YAML
            line, col = _pos(node)
            self.problems.append(Problem(self.path, line, col, "", f"key {node.value or '~'} must be text: "
                                                                     f"write it in quotes, e.g. '{node.value}':"))
            return str(node.value)
        return key


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _walk(data: Any, loc: Loc) -> Loc:
    """Map a pydantic error location onto the data: skip union tags and field names that the
    data does not have, stop where the data ends."""
    real: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            real.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            real.append(part)
        elif isinstance(node, dict):
            continue  # a union tag or a model-internal name
        else:
            break
    return tuple(real)


# --- error messages --------------------------------------------------------------------------

_KNOWN_KEYS: set[str] | None = None


def _known_keys() -> set[str]:
    global _KNOWN_KEYS
    if _KNOWN_KEYS is None:
        keys: set[str] = set()

        def visit(node: Any) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "properties" and isinstance(v, dict):
                        keys.update(v)
                    visit(v)
            elif isinstance(node, list):
                for v in node:
                    visit(v)

        visit(drill_json_schema())
        visit(Suite.model_json_schema(by_alias=True))
        visit(TargetsFile.model_json_schema(by_alias=True))
        _KNOWN_KEYS = keys
    return _KNOWN_KEYS


def _keys_at(model: Any, loc: Loc) -> set[str] | None:
    """The keys a mapping at ``loc`` (a pydantic error location) may have, or None if unknown."""
    t: Any = model
    for part in loc:
        while get_origin(t) is Annotated or (get_origin(t) in (Union, UnionType) and type(None) in get_args(t)):
            t = get_args(t)[0] if get_origin(t) is Annotated else next(a for a in get_args(t) if a is not type(None))
        if isinstance(t, type) and issubclass(t, BaseModel):
            fields = {(f.alias or n): f.annotation for n, f in t.model_fields.items()}
            if part not in fields:
                return None
            t = fields[part]
        elif get_origin(t) in (Union, UnionType):  # a tagged union: the location names the tag
            tagged = {m.tag: a for a in get_args(t) for m in getattr(a, "__metadata__", ()) if isinstance(m, Tag)}
            if part not in tagged:
                return None
            t = tagged[part]
        elif get_origin(t) in (tuple, list) and isinstance(part, int):
            t = get_args(t)[0]
        elif get_origin(t) is dict:
            t = get_args(t)[1]
        else:
            return None
    while get_origin(t) is Annotated or (get_origin(t) in (Union, UnionType) and type(None) in get_args(t)):
        t = get_args(t)[0] if get_origin(t) is Annotated else next(a for a in get_args(t) if a is not type(None))
    if isinstance(t, type) and issubclass(t, BaseModel):
        return {(f.alias or n) for n, f in t.model_fields.items()}
    return None


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [c for c in choices if c != word], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _shown(v: Any) -> str:
    return f" {v!r}" if not isinstance(v, (dict, list)) and v is not None else ""


def _non_ascii(word: object) -> str:
    """Name the first character that only looks like ASCII (Cyrillic 'а', a zero-width space)."""
    if isinstance(word, str):
        for ch in word:
            if not ch.isascii():
                return f" (note: {ch!r} is U+{ord(ch):04X} {unicodedata.name(ch, '')}, not ASCII)"
    return ""


def _type_name(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number",
            bool: "true/false", type(None): "nothing (null)"}.get(type(v), type(v).__name__)


def _message(err: dict[str, Any], real: Loc, model: Any = None) -> tuple[Loc, str, bool]:
    """(location to report, sentence, point at the key rather than the value)."""
    etype, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    loc = tuple(err["loc"])
    is_fault = len(loc) >= 2 and loc[-1] == "fault" or (loc[-2:-1] == ("fault",) and loc[-1] == "type")
    if etype == "union_tag_invalid":
        tag = ctx.get("tag")
        if "type" in str(ctx.get("discriminator", "")):
            return real + ("type",), (f"unknown fault {tag!r}; expected one of {', '.join(faults.REGISTRY)}"
                                      + _did_you_mean(tag, faults.REGISTRY) + _non_ascii(tag)), False
        return real, (f"unknown signal {tag!r}; expected one of {', '.join(signals.REGISTRY)}"
                      + _did_you_mean(tag, signals.REGISTRY)), True
    if etype == "union_tag_not_found":
        if is_fault:
            return real, f"missing 'type': expected one of {', '.join(faults.REGISTRY)}", False
        return real, (f"expected one signal as a one-key mapping, e.g. '- app-health: Degraded'; got {_type_name(value)}"
                      + (f" with keys {', '.join(map(str, value))}" if isinstance(value, dict) else "")), False
    if etype == "literal_error":
        if real[-1:] == ("strategy",):
            return real, (f"unknown rollback strategy {value!r}; expected one of {', '.join(rollbacks.REGISTRY)}"
                          + _did_you_mean(value, rollbacks.REGISTRY)), False
        return real, f"{value!r} is not allowed; expected {ctx.get('expected')}", False
    if etype == "enum":
        return real, f"{value!r} is not allowed; expected one of {ctx.get('expected', '').replace(chr(39), '')}", False
    if etype == "extra_forbidden":
        key = loc[-1]
        allowed = _keys_at(model, loc[:-1]) if model is not None else None
        return real, f"unknown key {key!r}" + _did_you_mean(key, _known_keys() if allowed is None else allowed), True
    if etype == "missing":
        return real + (loc[-1],), f"required key {loc[-1]!r} is missing", False
    if etype in ("value_error", "assertion_error"):
        return real, str(ctx.get("error", err["msg"])), False
    if etype == "string_pattern_mismatch" and ":" in str(ctx.get("pattern", "")):
        return real, f"{value!r} is not a valid time: use 24-hour HH:MM in quotes, e.g. '20:00'", False
    if etype == "string_pattern_mismatch":
        return real, f"{value!r} is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit", False
    if etype in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return real, f"expected a mapping; got {_type_name(value)}" + _shown(value), False
    if etype in ("tuple_type", "list_type", "iterable_type"):
        return real, f"expected a list; got {_type_name(value)}" + _shown(value), False
    if etype == "string_type" and isinstance(value, (int, float, bool)):
        # YAML read it as a number or boolean: 22:30 is 1350, 1.10 is 1.1, yes is true
        return real, (f"expected a valid string; got {_type_name(value)} {value!r}: put the value in quotes "
                      f"(YAML reads 22:30 as 1350, 1.10 as 1.1 and yes as true)"), False
    if etype.endswith("_type") or etype.endswith("_parsing"):
        want = err["msg"].replace("Input should be ", "expected ")
        return real, f"{want}; got {_type_name(value)}" + (f" {value!r}" if not isinstance(value, (dict, list)) else ""), False
    return real, err["msg"], False


# --- loading ---------------------------------------------------------------------------------


def _validate(model: type[BaseModel], data: dict[str, Any], path: str, marks: _Marks, base: Loc,
              refused: frozenset[Loc] | set[Loc] = frozenset()) -> tuple[Any, list[Problem]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems: list[Problem] = []
        locs = [tuple(e["loc"]) for e in errors]
        for err in errors:
            loc = tuple(err["loc"])
            # a list reported too short only because its items failed is noise
            if err["type"] == "too_short" and any(other[: len(loc)] == loc and other != loc for other in locs):
                continue
            real = _walk(data, loc)
            if any(real[: len(r)] == r for r in refused):
                continue  # its value was refused already (a YAML tag): one problem is enough
            if err["type"] == "extra_forbidden":
                real = _walk(data, loc[:-1]) + (loc[-1],)
            report_loc, text, at_key = _message(err, real, model)
            line, col = marks.at(base + report_loc, prefer_key=at_key or err["type"] == "extra_forbidden" or "[key]" in loc)
            problems.append(Problem(path, line, col, _dotted(report_loc), text))
        return None, problems


def _semantic(drill: Drill, path: str, marks: _Marks, base: Loc) -> list[Problem]:
    spec = drill.spec
    found: list[tuple[Loc, str]] = []
    fault = faults.get(spec.fault.type)
    via = spec.fault.via
    if via not in fault.vias:
        found.append((("spec", "fault", "via"), f"fault {fault.kind} can only be injected via "
                                                f"{', '.join(sorted(v.value for v in fault.vias))}"))
    if via is InjectVia.GIT and not spec.target.application:
        found.append((("spec", "fault", "via"), "via: git needs target.application (Argo CD syncs the commit); "
                                                "this target is a plain Helm release: use via: helm"))
    if via is InjectVia.HELM and spec.target.application:
        found.append((("spec", "fault", "via"), "via: helm on an Argo CD application would be reverted by Argo CD; "
                                                "use via: git, or target a plain Helm release"))
    if spec.fault.wait_for_poll and via is not InjectVia.GIT:
        found.append((("spec", "fault", "wait-for-poll"), "wait-for-poll only applies to via: git"))
    for field_path, message in fault.check(spec):
        found.append((("spec",) + tuple(field_path.split(".")), message))
    reason = rollbacks.get(spec.rollback.strategy).check(spec)
    if reason:
        found.append((("spec", "rollback", "strategy"), reason))
    for section in ("detect", "recover"):
        sigset = getattr(spec, section)
        for i, entry in enumerate(sigset.signals):
            if entry.signal.needs_application and not spec.target.application:
                found.append((("spec", section, sigset.mode, i),
                              f"{entry.signal_name} needs an Argo CD application; this target is a Helm release"))
    for loc, td in ((("spec", "detect", "timeout"), spec.detect.timeout), (("spec", "recover", "timeout"), spec.recover.timeout),
                    (("spec", "rollback", "timeout"), spec.rollback.timeout)):
        if td.total_seconds() <= 0:
            found.append((loc, "must be longer than 0s: the runner would stop waiting at once"))
        elif td > timedelta(hours=24):
            found.append((loc, f"{format_duration(td)} is too long for a timeout (at most 24h): a typo for s or m?"))
    gd = spec.gameday
    if gd is not None and gd.hint_after is not None and gd.max_duration is not None and gd.hint_after >= gd.max_duration:
        found.append((("spec", "gameday", "hint-after"), f"hint-after {format_duration(gd.hint_after)} is longer than max-duration "
                                                 f"{format_duration(gd.max_duration)}: the hint would never show"))
    exp = spec.expect
    if exp.detect_within is not None and exp.detect_within > spec.detect.timeout:
        found.append((("spec", "expect", "detect-within"),
                      f"detect-within {exp.detect_within.total_seconds():g}s is longer than detect.timeout "
                      f"{spec.detect.timeout.total_seconds():g}s: the runner stops waiting before it could be met"))
    if exp.recover_within is not None and exp.recover_within > spec.recover.timeout:
        found.append((("spec", "expect", "recover-within"),
                      f"recover-within {exp.recover_within.total_seconds():g}s is longer than recover.timeout "
                      f"{spec.recover.timeout.total_seconds():g}s: the runner stops waiting before it could be met"))
    problems = []
    for loc, message in found:
        line, col = marks.at(base + loc)
        problems.append(Problem(path, line, col, _dotted(loc), message))
    return problems


def _tab_problems(path: str, text: str) -> list[Problem]:
    out = []
    for n, line in enumerate(_BREAKS.split(text), 1):  # str.splitlines() also breaks on \f, \v: lines would drift
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            out.append(Problem(path, n, indent.index("\t") + 1, "",
                               "tab character in indentation; YAML indents with spaces only"))
    return out


def load_text(text: str, path: str = "<string>") -> LoadResult:
    """Validate every document of one YAML text."""
    result = LoadResult()
    tabs = _tab_problems(path, text)
    if tabs:
        result.problems += tabs
        return result
    bom = text.find("\ufeff", 1)
    if bom > 0:  # a second file concatenated onto this one, typically: the mark is glued to the next key
        before = text[:bom]
        result.problems.append(Problem(path, _line_count(before), bom - max(before.rfind("\n"), before.rfind("\r")), "",
                                       "invisible character U+FEFF (byte order mark) inside the file: delete it"))
        return result
    try:
        nodes = list(yaml.compose_all(text, Loader=_SafeLoader))
    except yaml.YAMLError as exc:
        result.problems.append(_yaml_error(path, text, exc))
        return result
    if not [n for n in nodes if n is not None and not (isinstance(n, yaml.ScalarNode) and n.value == "")]:
        result.problems.append(Problem(path, 1, 1, "", "file is empty: expected a document with kind: Drill, Suite or Targets"))
        return result
    builder = _Builder(path, result.problems)
    for index, node in enumerate(nodes):
        if node is None:
            continue
        marks = _Marks()
        line, col = _pos(node)
        try:
            data = builder.build(node, (), marks)
        except _TooBig:
            result.problems.append(Problem(path, line, col, "", f"document too large or too deep: more than {MAX_NODES} values "
                                                                f"or {MAX_DEPTH} levels (an alias expanding without bound?)"))
            return result
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark or node.start_mark
            result.problems.append(Problem(path, mark.line + 1, mark.column + 1, "", f"not valid YAML: {exc.problem}"))
            continue
        if data is None:
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and node.value:
                result.problems.append(Problem(path, line, col, "", "expected a mapping with apiVersion, kind, metadata "
                                                                    "and spec; got nothing (null)"))
            continue
        if not isinstance(data, dict):
            result.problems.append(Problem(path, line, col, "", f"expected a mapping with apiVersion, kind, metadata and "
                                                                f"spec; got {_type_name(data)}"))
            continue
        kind = data.get("kind")
        if ("kind",) in builder.refused:
            continue  # reported where it was refused
        if kind not in KINDS:
            kl, kc = marks.at(("kind",))
            if kind is None and ("kind",) in marks.key:
                kl, kc = marks.key[("kind",)]
                result.problems.append(Problem(path, kl, kc, "kind", f"'kind' is empty; expected one of {', '.join(KINDS)}"))
            elif kind is None:
                result.problems.append(Problem(path, line, col, "kind", f"required key 'kind' is missing; expected one of {', '.join(KINDS)}"))
            else:
                result.problems.append(Problem(path, kl, kc, "kind", f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}"
                                               + _did_you_mean(kind, KINDS)))
            continue
        if data.get("apiVersion") != API_VERSION:
            al, ac = marks.at(("apiVersion",))
            got = data.get("apiVersion")
            result.problems.append(Problem(path, al, ac, "apiVersion",
                                           f"expected apiVersion {API_VERSION!r}, got {got!r}" if got is not None
                                           else f"required key 'apiVersion' is missing (use {API_VERSION})"))
            continue
        if kind == "Targets":
            model, problems = _validate(TargetsFile, data, path, marks, (), builder.refused)
            spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
            if isinstance(spec.get("targets"), dict) and spec.get("default") not in (None, *spec["targets"]):
                dl, dc = marks.at(("spec", "default"))
                problems = [p for p in problems if "is not defined under spec.targets" not in p.message]
                problems.append(Problem(path, dl, dc, "spec.default", f"default target {spec['default']!r} is not defined "
                                                                      f"under spec.targets (defined: {', '.join(map(str, spec['targets']))})"))
        elif kind == "Responders":
            from runner.responders import Responders

            model, problems = _validate(Responders, data, path, marks, (), builder.refused)
        else:
            model, problems = _validate(Drill if kind == "Drill" else Suite, data, path, marks, (), builder.refused)
            if model is not None and kind == "Drill":
                problems += _semantic(model, path, marks, ())
            if model is not None and kind == "Suite":
                problems += _suite_paths(model, Path(path), marks)
        if problems:
            result.problems += problems
        elif model is not None:  # None without problems: every error was under a refused tag, reported above
            result.documents.append(Document(Path(path), index, line, kind, model))
    return result


def _suite_paths(suite: Suite, path: Path, marks: _Marks) -> list[Problem]:
    from runner import schedule

    out = []
    sched, window = suite.spec.schedule, suite.spec.window
    checks: list[tuple[Loc, str | None]] = []
    if sched is not None:
        if sched.cron is not None:
            checks.append((("spec", "schedule", "cron"), schedule.check_cron(sched.cron)))
        checks.append((("spec", "schedule", "timezone"), _zone_problem(sched.timezone)))
    if window is not None:
        checks.append((("spec", "window", "timezone"), _zone_problem(window.timezone)))
    for loc, problem in checks:
        if problem:
            line, col = marks.at(loc)
            out.append(Problem(str(path), line, col, _dotted(loc), problem))
    for i, rel in enumerate(suite.spec.drills):
        if not (path.parent / rel).exists():
            line, col = marks.at(("spec", "drills", i))
            out.append(Problem(str(path), line, col, f"spec.drills[{i}]", f"{rel!r} not found (relative to {path.parent})"))
    return out


def _zone_problem(name: str) -> str | None:
    from runner import schedule

    try:
        schedule.zone(name)
    except ValueError as exc:
        return str(exc)
    return None


def suite_drills(doc: Document) -> tuple[list[Document], LoadResult]:
    """A suite's drills in order: its paths, then drills matching its selector (each once)."""
    suite: Suite = doc.model
    result = LoadResult()
    ordered: list[Document] = []
    for rel in suite.spec.drills:
        sub, res = drills_to_run([doc.path.parent / rel])
        result.extend(res)
        ordered += sub
    if suite.spec.selector is not None:
        want = suite.spec.selector.match_labels
        files, problems = expand([doc.path.parent / f for f in suite.spec.selector.from_])
        result.problems += problems
        for f in files:
            for d in load_file(f).documents:
                labels = d.model.metadata.labels if d.kind == "Drill" else {}
                if d.kind == "Drill" and all(labels.get(k) == v for k, v in want.items()):
                    ordered.append(d)
    seen: set[str] = set()
    unique = [d for d in ordered if not (d.model.metadata.name in seen or seen.add(d.model.metadata.name))]  # type: ignore[func-returns-value]
    return unique, result


def load_file(path: Path) -> LoadResult:
    """Validate one file; problems (unreadable, too big, not UTF-8) are reported, not raised."""
    result = LoadResult()
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            result.problems.append(Problem(str(path), 1, 1, "", f"file is {size} bytes; drill files are limited to {MAX_BYTES}"))
            return result
        raw = path.read_bytes()
    except OSError as exc:
        result.problems.append(Problem(str(path), 1, 1, "", f"cannot read: {exc.strerror or exc}"))
        return result
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        result.problems.append(Problem(str(path), line, 1, "", "not UTF-8 text"))
        return result
    return load_text(text, str(path))


def expand(paths: Sequence[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Files named, and every *.yaml / *.yml under folders named, in a stable order."""
    files: list[Path] = []
    problems: list[Problem] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
        elif p.exists():
            files.append(p)
        else:
            problems.append(Problem(str(p), 1, 1, "", "no such file or folder"))
    seen: set[Path] = set()
    unique = [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]  # type: ignore[func-returns-value]
    return unique, problems


def load_paths(paths: Sequence[str | Path]) -> LoadResult:
    """Validate every file under ``paths``; drill names must be unique across them."""
    files, problems = expand(paths)
    result = LoadResult(problems=problems)
    for f in files:
        result.extend(load_file(f))
    names: dict[str, Document] = {}
    for doc in result.drills:
        name = doc.model.metadata.name
        if name in names:
            result.problems.append(Problem(str(doc.path), doc.line, 1, "metadata.name",
                                           f"drill {name!r} is also defined at {names[name].where}"))
        else:
            names[name] = doc
    return result


def drills_to_run(paths: Sequence[str | Path]) -> tuple[list[Document], LoadResult]:
    """The drills a ``drills run PATH...`` runs, in order.

    A suite file named directly runs its drills in its order; a folder runs every drill file
    in it (suites and target files in the folder are recognised and not run as drills).
    """
    files, problems = expand(paths)
    result = LoadResult(problems=problems)
    ordered: list[Document] = []
    for f in files:
        loaded = load_file(f)
        result.extend(loaded)
        named_directly = any(Path(p).resolve() == f.resolve() for p in paths)
        for doc in loaded.documents:
            if doc.kind == "Drill":
                ordered.append(doc)
            elif doc.kind == "Suite" and named_directly:
                sub, res = suite_drills(doc)
                result.problems += res.problems
                ordered += sub
    return ordered, result


def validate_file(path: Path, model: type[BaseModel]) -> tuple[Any, list[Problem]]:
    """Load one YAML mapping (e.g. a --sim-config file) into ``model`` with file:line problems."""
    p = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(p, 1, 1, "", f"cannot read: {exc}")]
    problems = _tab_problems(p, text)
    if problems:
        return None, problems
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return None, [Problem(p, (mark.line + 1) if mark else 1, (mark.column + 1) if mark else 1, "",
                              f"not valid YAML: {' '.join(filter(None, [exc.context, exc.problem]))}")]
    if node is None:
        return model.model_validate({}), []
    marks = _Marks()
    builder = _Builder(p, problems)
    try:
        data = builder.build(node, (), marks)
    except _TooBig:
        return None, [Problem(p, 1, 1, "", "document too large")]
    if not isinstance(data, dict):
        return None, [Problem(p, 1, 1, "", f"expected a mapping; got {_type_name(data)}")]
    obj, more = _validate(model, data, p, marks, ())
    return obj, problems + more

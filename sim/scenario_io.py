"""Reading scenarios: YAML files, `extends:` inheritance, `--set` overrides, clear errors.

Every failure raises ScenarioError naming the file (or option), the field path and what is
allowed, so the command line can print one line and exit 2.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sim.acquisition import scenario_schedule
from sim.carbon import check_factor_coverage
from sim.errors import ScenarioError
from sim.network import read_edgelist
from sim.scenario import Scenario


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read a scenario file, resolve `extends:`, apply `--set a.b=v` overrides, check it all."""
    path = Path(path)
    data = _read_with_extends(path, chain=())
    applied = []
    for item in overrides or []:
        dotted, value = parse_override(item)
        _check_path(dotted, source=f"--set {item}")
        _assign(data, dotted, value, source=f"--set {item}")
        applied.append((dotted, item))
    try:
        return parse_scenario(data, source=str(path))
    except ScenarioError as exc:
        for dotted, item in reversed(applied):  # a bad value given on the command line: say so
            if exc.field and (exc.field == dotted or exc.field.startswith(dotted + ".")):
                raise ScenarioError(f"--set {item}", exc.field, exc.message) from None
        raise


def override_document(path: str | Path, overrides: list[str], name: str | None = None,
                      description: str | None = None) -> dict[str, Any]:
    """A scenario file that stands for `path` with `--set` overrides: `extends:` the file (by its absolute
    path), a name and description, and each overridden field nested under its sections; a field inside a list brings the
    whole list (a file's list replaces its parent's, it does not merge item by item)."""
    path = Path(path)
    data = _read_with_extends(path, chain=())
    doc: dict[str, Any] = {"extends": str(path.resolve())}
    if name:
        doc["name"] = name
    if description:
        doc["description"] = description
    for item in overrides:
        dotted, value = parse_override(item)
        _check_path(dotted, source=f"--set {item}")
        _assign(data, dotted, value, source=f"--set {item}")
        parts = dotted.split(".")
        cut = next((i for i, p in enumerate(parts) if p.isdigit()), len(parts))
        node, target = data, doc
        for part in parts[:cut - 1]:
            node = node[part]
            target = target.setdefault(part, {})
        target[parts[cut - 1]] = copy.deepcopy(node[parts[cut - 1]])
    return doc


def with_overrides(scenario: Scenario, sets: list[str], source: str) -> Scenario:
    """A loaded scenario with `PATH=VALUE` overrides applied, checked as a file's would be."""
    if not sets:
        return scenario
    data = scenario.model_dump(mode="json", exclude_none=True)
    for item in sets:
        dotted, value = parse_override(item)
        _check_path(dotted, source=f"{source}: {item}")
        _assign(data, dotted, value, source=f"{source}: {item}")
    return parse_scenario(data, source=source)


def named_by_overrides(scenario: Scenario, sets: list[str]) -> Scenario:
    """The scenario renamed by its `--set` overrides, so that a changed run never passes for the file it
    came from: name `<name>--<field>-<value>...` (the results folder, the printed header, the report title)
    and a description that starts with the overrides."""
    if not sets:
        return scenario
    parts = []
    for item in sets:
        path, _, value = item.partition("=")
        parts.append(re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{path.rsplit('.', 1)[-1]}-{value.strip()}").strip("_"))
    name = f"{scenario.name}--{'--'.join(parts)}"
    if len(name) > 80:
        name = f"{name[:60]}--{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    said = "; ".join(sets)
    return scenario.model_copy(update={"name": name,
                                       "description": f"{scenario.name} with {said}. {scenario.description}".strip()})


def _name_from(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)
    return name or "scenario"


def parse_scenario(data: dict[str, Any], source: str) -> Scenario:
    """Check a merged scenario dict and build the Scenario, turning pydantic's report into one
    clear message (input checking; model validation against published results is experiments/validation.py)."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _to_scenario_error(exc, source) from None
    check_factor_coverage(scenario, source, scenario.policy_carbon_factors())
    if scenario.network.kind == "edgelist":  # read now, so that a bad file is bad input of this scenario
        read_edgelist(scenario.network.edgelist_file, scenario.shoppers.count, source)
    scenario_schedule(scenario, source)  # likewise the schedule of first purchases, if any
    return scenario


def parse_override(item: str) -> tuple[str, Any]:
    """'a.b.c=VALUE' -> ('a.b.c', parsed YAML scalar/list)."""
    if "=" not in item:
        raise ScenarioError(f"--set {item}", None, "expected PATH=VALUE, e.g. shoppers.count=5000")
    dotted, raw = item.split("=", 1)
    dotted = dotted.strip()
    if not dotted:
        raise ScenarioError(f"--set {item}", None, "empty field path")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ScenarioError(f"--set {item}", dotted, f"value is not valid YAML ({exc})") from None
    return dotted, value


# --- files and inheritance -------------------------------------------------------------------


_EMPTY = "{}; start a scenario with 'extends: baseline.yaml' and the fields you change"


def _read_yaml(path: Path) -> dict[str, Any]:
    """The mapping of one scenario file; a file that sets nothing is an error, not the defaults."""
    if not path.exists():
        raise ScenarioError(str(path), None, "file not found")
    if not path.is_file():
        raise ScenarioError(str(path), None, "not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), None, f"cannot read file ({exc})") from None
    lines = (line.replace("\ufeff", "").strip() for line in text.splitlines())
    if all(not line or line.startswith("#") for line in lines):  # before YAML, which refuses a lone tab
        raise ScenarioError(str(path), None, _EMPTY.format("the file is empty"))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(str(path), None, f"malformed YAML{where}: {problem}") from None
    if data is None or data == {}:  # e.g. only `---` or `{}`: it would run on built-in defaults
        raise ScenarioError(str(path), None, _EMPTY.format(
            "the file is empty" if data is None else "the file sets no fields"))
    if not isinstance(data, dict):
        raise ScenarioError(str(path), None, "a scenario must be a YAML mapping of fields")
    return data


# Fields naming a file: a relative path is relative to the scenario file that sets it (as
# `extends:` is); on the command line (--set) it is relative to the working directory.
FILE_FIELDS = (("carbon", "factors_file"), ("network", "edgelist_file"), ("acquisition", "schedule_file"))


def _anchor_file_fields(data: dict[str, Any], folder: Path) -> None:
    for section, key in FILE_FIELDS:
        block = data.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str) and not Path(block[key]).is_absolute():
            block[key] = str((folder / block[key]).resolve())


def _read_with_extends(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ScenarioError(str(path), "extends", f"inheritance cycle: {cycle}")
    data = _read_yaml(path)
    _anchor_file_fields(data, path.parent)
    if not chain and "name" not in data:
        # the file run without a name of its own (e.g. one that extends the baseline) is named
        # after itself, so that its results are never mistaken for its parent's
        data["name"] = _name_from(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(str(path), "extends", "must be the path of another scenario file")
    parent_path = (path.parent / parent) if not Path(parent).is_absolute() else Path(parent)
    if not parent_path.exists():
        raise ScenarioError(str(path), "extends", f"file not found: {parent_path}")
    base = _read_with_extends(parent_path, (*chain, resolved))
    return deep_merge(base, data)


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) in `top` replaces `base`."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --- field paths -------------------------------------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (Optional[M], M), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _container_of(annotation: Any) -> Any:
    """`list` or `dict` if the annotation is one (possibly wrapped), else None."""
    origin = typing.get_origin(annotation)
    if origin in (list, dict):
        return origin
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _container_of(arg)
            if found is not None:
                return found
    return None


def _item_annotation(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return _item_annotation(args[0])
    return args[-1] if args else Any


def check_path(dotted: str, source: str) -> None:
    """A dotted path names a scenario field (else ScenarioError naming what is allowed)."""
    _check_path(dotted, source)


def field_info(dotted: str) -> tuple[Any, Any]:
    """(pydantic FieldInfo, annotation) of the scenario field a dotted path names (list items by index):
    its description, default and bounds, for a form built from the schema (the studio). ScenarioError if
    the path names no field."""
    _check_path(dotted, source=dotted)
    model: type[BaseModel] | None = Scenario
    info, annotation = None, Scenario
    for part in dotted.split("."):
        if model is not None:
            info = model.model_fields[part]
            annotation = info.annotation
        else:
            annotation = _item_annotation(annotation)
        model = _model_of(annotation) if _container_of(annotation) is None else None
    return info, annotation


def _check_path(dotted: str, source: str) -> None:
    """Reject a --set path that names no field of the schema, with a did-you-mean."""
    model: type[BaseModel] | None = Scenario
    annotation: Any = Scenario
    walked: list[str] = []
    for part in dotted.split("."):
        if model is not None:
            if part not in model.model_fields:
                raise ScenarioError(source, ".".join([*walked, part]), _unknown(part, model))
            annotation = model.model_fields[part].annotation
        else:
            container = _container_of(annotation)
            if container is list and not part.isdigit():
                raise ScenarioError(source, ".".join([*walked, part]), "list index must be a number")
            if container is None:
                raise ScenarioError(
                    source, ".".join([*walked, part]), f"'{'.'.join(walked)}' has no sub-fields"
                )
            annotation = _item_annotation(annotation)
        walked.append(part)
        model = _model_of(annotation) if _container_of(annotation) is None else None


def _unknown(key: str, model: type[BaseModel]) -> str:
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown field '{key}'{hint} Allowed: {', '.join(allowed)}"


def _assign(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """Set `value` at the dotted path of the merged dict; a list item must already exist."""
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            nxt = node[_list_index(node, parts, i, source)]
        elif not isinstance(node, dict):
            raise _not_a_mapping(source, parts[:i], node, part)
        else:
            nxt = node.get(part)
            if nxt is None and parts[i + 1].isdigit():  # a list the files leave at its default
                nxt = _plain_default(parts[: i + 1])
            if nxt is None:
                nxt = {}
            node[part] = nxt
        node = nxt
    if isinstance(node, list):
        node[_list_index(node, parts, len(parts) - 1, source)] = value
    elif isinstance(node, dict):
        node[parts[-1]] = value
    else:
        raise _not_a_mapping(source, parts[:-1], node, parts[-1])


def _not_a_mapping(source: str, parts: list[str], node: Any, key: str) -> ScenarioError:
    shown = "null" if node is None else repr(node)
    return ScenarioError(source, ".".join(parts), f"is {shown} in the scenario, not a mapping; "
                         f"cannot set '{key}' in it")


def _list_index(items: list[Any], parts: list[str], i: int, source: str) -> int:
    """parts[i] as an index of `items` (the list at parts[:i]), or a ScenarioError saying its length."""
    index = int(parts[i])  # _check_path made sure it is a number
    if index < len(items):
        return index
    where = ".".join(parts[:i])
    if not items:
        allowed = f"it is empty; set the whole list instead, e.g. --set {where}=[...]"
    else:
        count = f"{len(items)} item{'s' if len(items) > 1 else ''}"
        allowed = f"it has {count}, so the index must be 0 to {len(items) - 1}"
    raise ScenarioError(source, ".".join(parts[: i + 1]),
                        f"list index {index} is past the end of '{where}': {allowed}")


def _plain_default(parts: list[str]) -> Any:
    """The schema default of the field at `parts` as plain data (models as dicts), or None."""
    model: type[BaseModel] | None = Scenario
    for n, part in enumerate(parts):
        if model is None or part not in model.model_fields:
            return None
        field = model.model_fields[part]
        if n == len(parts) - 1:
            default = field.get_default(call_default_factory=True)
            return _as_data(default)
        annotation = field.annotation
        model = _model_of(annotation) if _container_of(annotation) is None else None
    return None


def _as_data(value: Any) -> Any:
    """Models as dicts, containers copied: what a YAML file would hold."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, (list, tuple)):
        return [_as_data(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_data(v) for k, v in value.items()}
    return copy.deepcopy(value)


# pydantic's name for a member of a union type in an error's location ('constrained-float', "literal['auto']"),
# not a field: a value that fits no member of `float | Literal['auto']` gets an error per member
_UNION_MEMBER = re.compile(r"^(literal\[.*\]|[a-z]+(-[a-z]+)+(\[.*\])?|float|int|str|bool)$")


def _field_loc(error: dict) -> list[str]:
    """The error's field path without the union member tags pydantic appends after a scalar field."""
    loc = [str(p) for p in error["loc"]]
    while len(loc) > 1 and _UNION_MEMBER.match(loc[-1]):
        loc.pop()
    return loc


def _to_scenario_error(exc: ValidationError, source: str) -> ScenarioError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _field_loc(first)
    # the other members of a union the value fits none of: what they allow is said, not counted as problems
    alternatives = [e for e in errors[1:] if _field_loc(e) == loc]
    errors = [first, *(e for e in errors[1:] if _field_loc(e) != loc)]
    field = ".".join(loc) or None
    if first["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        message = _unknown(loc[-1], model) if model else f"unknown field '{loc[-1]}'"
    else:
        got = first.get("input")
        shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
        message = f"{first['msg']}{shown}"
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if first["type"] == "finite_number":
            message = (f"must be a finite number{shown}; inf, nan and numbers too large for a float "
                       "(beyond about 1.8e308, e.g. 1e400) are not allowed")
    allowed = [e["ctx"]["expected"] for e in alternatives if e["type"] == "literal_error"]
    if allowed:
        message += f"; or {' or '.join(allowed)}"
    more = len(errors) - 1
    if more:
        message += f" [and {more} more problem{'s' if more > 1 else ''}]"
    return ScenarioError(source, field, message)


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Scenario
    annotation: Any = Scenario
    for part in loc:
        if model is not None and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        elif _container_of(annotation) is not None:
            annotation = _item_annotation(annotation)
        else:
            return None
        model = _model_of(annotation) if _container_of(annotation) is None else None
    return model


def dump_resolved(scenario: Scenario) -> str:
    """The fully resolved scenario as YAML (every default written out)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

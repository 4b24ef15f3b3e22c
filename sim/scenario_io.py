"""Reading scenarios: YAML files, `extends:` inheritance, `--set` overrides, clear errors.

Every failure raises ScenarioError naming the file (or option), the field path and what is
allowed, so the command line can print one line and exit 2.
"""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sim.config import Scenario
from sim.carbon import check_factor_coverage
from sim.errors import ScenarioError
from sim.network import read_edgelist


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read a scenario file, resolve `extends:`, apply `--set a.b=v` overrides, validate."""
    path = Path(path)
    data = _read_with_extends(path, chain=())
    applied = []
    for item in overrides or []:
        dotted, value = parse_override(item)
        _check_path(dotted, source=f"--set {item}")
        _assign(data, dotted, value, source=f"--set {item}")
        applied.append((dotted, item))
    try:
        return validate(data, source=str(path))
    except ScenarioError as exc:
        for dotted, item in reversed(applied):  # a bad value given on the command line: say so
            if exc.field and (exc.field == dotted or exc.field.startswith(dotted + ".")):
                raise ScenarioError(f"--set {item}", exc.field, exc.message) from None
        raise


def _name_from(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)
    return name or "scenario"


def validate(data: dict[str, Any], source: str) -> Scenario:
    """Validate a merged scenario dict, turning pydantic's report into one clear message."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _to_scenario_error(exc, source) from None
    check_factor_coverage(scenario, source)
    if scenario.network.kind == "edgelist":  # read now, so that a bad file is bad input of this scenario
        read_edgelist(scenario.network.edgelist_file, scenario.shoppers.count, source)
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


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ScenarioError(str(path), None, "file not found")
    if not path.is_file():
        raise ScenarioError(str(path), None, "not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), None, f"cannot read file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(str(path), None, f"malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ScenarioError(str(path), None, "a scenario must be a YAML mapping of fields")
    return data


# Fields naming a file: a relative path is relative to the scenario file that sets it (as
# `extends:` is); on the command line (--set) it is relative to the working directory.
FILE_FIELDS = (("carbon", "factors_file"), ("network", "edgelist_file"))


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
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = node[int(part)] if isinstance(node, list) else node.get(part)
        if nxt is None:
            if isinstance(node, list):
                raise ScenarioError(source, ".".join(parts[: i + 1]), "list index out of range")
            nxt = {}
            node[part] = nxt
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        index = int(last)
        if index >= len(node):
            raise ScenarioError(source, dotted, f"list index out of range (length {len(node)})")
        node[index] = value
    else:
        node[last] = value


def _to_scenario_error(exc: ValidationError, source: str) -> ScenarioError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
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

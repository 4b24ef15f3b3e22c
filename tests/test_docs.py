"""The documentation names every scenario field and every summary KPI the code has."""

from __future__ import annotations

import re
import typing

from pydantic import BaseModel

from conftest import ROOT
from sim.kpis import CATALOGUE, SUMMARY_KEYS
from sim.metrics import COLUMNS
from sim.policies import policy_kpis
from sim.scenario import Scenario


def _unwrap_optional(annotation):
    """M | None -> M (the optional policy sections)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType) and len(args) == 1:
        return args[0]
    return annotation


def field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = _unwrap_optional(field.annotation)
        args = typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation is not field.annotation:  # an optional section (a policy) is a field itself
                paths.append(path)
            paths += field_paths(annotation, path + ".")
        elif typing.get_origin(annotation) is list and args and isinstance(args[0], type) \
                and issubclass(args[0], BaseModel):
            paths.append(path)
            paths += field_paths(args[0], path + ".<i>.")
        else:
            paths.append(path)
    return paths


def test_parameters_md_lists_every_scenario_field():
    text = (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8")
    missing = [p for p in field_paths(Scenario) if f"`{p}`" not in text]
    assert not missing, f"docs/parameters.md lacks {missing}"


def _kpi_rows() -> dict[str, set[str]]:
    """Name -> the second cells of its rows in the tables of docs/kpis.md (a row may name several)."""
    rows: dict[str, set[str]] = {}
    for line in (ROOT / "docs" / "kpis.md").read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if len(cells) > 3:
            for name in re.findall(r"`([^`]+)`", cells[1]):
                rows.setdefault(name, set()).add(cells[2].strip())
    return rows


def test_kpis_md_defines_every_kpi_of_the_catalogue_with_its_unit():
    """docs/kpis.md has a row for every KPI the catalogue (sim/kpis.py) and the policies declare."""
    rows = _kpi_rows()
    declared = [*CATALOGUE, *policy_kpis()]
    missing = [k.name for k in declared if k.name not in rows]
    assert not missing, f"docs/kpis.md lacks {missing}"
    wrong = {k.name: (k.unit, rows[k.name]) for k in declared if k.unit not in rows[k.name]}
    assert not wrong, f"units differ (catalogue, docs): {wrong}"
    assert [k.name for k in CATALOGUE if k.core] == list(SUMMARY_KEYS)


def test_kpis_md_defines_every_daily_column_in_the_order_they_are_written():
    from sim.metrics import daily_columns
    columns = daily_columns([*CATALOGUE, *policy_kpis()])
    missing = [c for c in columns if c not in _kpi_rows()]
    assert not missing, f"docs/kpis.md lacks daily columns {missing}"
    text = (ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")
    section = text[text.index("## kpis_daily"):text.index("\n## ", text.index("## kpis_daily"))]
    listed = [n for line in section.splitlines() if line.startswith("| `")
              for n in re.findall(r"`([^`]+)`", line.split("|")[1])]
    assert [c for c in listed if c in columns] == [c for c in columns if c in listed] and set(COLUMNS) <= set(listed)


def test_every_scenario_field_has_a_description():
    def undocumented(model: type[BaseModel], prefix: str = "") -> list[str]:
        out = []
        for name, field in model.model_fields.items():
            annotation = _unwrap_optional(field.annotation)
            args = typing.get_args(annotation)
            inner = args[0] if typing.get_origin(annotation) is list and args else annotation
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                out += undocumented(inner, f"{prefix}{name}.")
            elif not field.description:
                out.append(prefix + name)
        return out
    assert undocumented(Scenario) == []

"""A studio column's levers, read from the scenario schema: what each is, its unit, bounds and help.

Nothing here knows about widgets: a `Lever` says what the form must offer (its kind, the schema's
description, its bounds and unit, the uncertainty set's plausible range where it has one) and
`ColumnSetting` turns a column's chosen values into `--set` overrides, the Scenario they make (checked
by the schema, whose message is shown as is), the YAML file they stand for and the CLI command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from sim.scenario import Scenario

# market levers every column offers (beside the uncertainty set's market assumptions)
MARKET = ("platform.take_rate", "platform.marketing_spend_per_day", "rivals.price_index")
# the main levers of each policy, under policies.<name>. (a campaign's levers for each campaign)
POLICY_LEVERS = {
    "subsidy": ("campaigns.{i}.value", "campaigns.{i}.min_basket", "campaigns.{i}.monthly_budget"),
    "referral": ("reward_referrer", "reward_referee"),
    "loyalty": ("points_per_currency", "point_value", "membership.enabled", "membership.fee_per_month"),
    "assortment": ("extra_categories_per_merchant", "onboard_longtail_merchants"),
    "green_logistics": ("ev_share", "carbon_price_per_tonne"),
    "recommendation": ("personalisation", "cost_per_month"),
}
# where a column that starts without a policy takes its settings when the policy is switched on: the
# library scenario of that policy
POLICY_SOURCES = {"subsidy": "subsidy_newcomers", "referral": "referral", "loyalty": "loyalty_tiers",
                  "assortment": "assortment_longtail", "green_logistics": "green_logistics",
                  "recommendation": "personalisation"}
Kind = Literal["bool", "int", "float", "text"]


@dataclass(frozen=True)
class Lever:
    """One setting a column offers: its dotted path, how to enter it and what the schema says of it."""

    path: str
    group: str          # "Market" or the policy's title
    kind: Kind
    label: str          # short name with unit and bounds, e.g. "take rate (share, 0 to < 1)"
    help: str           # the schema's description, and the plausible range of an uncertainty
    uncertain: bool = False


def _bounds(info: Any, annotation: Any) -> str:
    """'0 to < 1', '>= 0', '> 0', ... from the field's constraints (its own and its type's)."""
    metadata = list(info.metadata)
    for arg in [annotation, *get_args(annotation)]:
        metadata += [m for a in get_args(arg) for m in getattr(a, "metadata", [])]
    found = {attr: getattr(m, attr) for m in metadata for attr in ("ge", "gt", "le", "lt")
             if getattr(m, attr, None) is not None}
    low = f"{found['ge']:g}" if "ge" in found else f"> {found['gt']:g}" if "gt" in found else ""
    high = f"{found['le']:g}" if "le" in found else f"< {found['lt']:g}" if "lt" in found else ""
    if low and high:
        return f"{low} to {high}"
    if low:
        return low if low.startswith(">") else f">= {low}"
    if high:
        return high if high.startswith("<") else f"<= {high}"
    return ""


def _kind(annotation: Any) -> Kind:
    if getattr(annotation, "__metadata__", None) is not None:  # Annotated[float, ...]
        annotation = get_args(annotation)[0]
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if get_origin(annotation) is not None:  # X | None is entered as X (empty: none)
        optional = [a for a in get_args(annotation) if a is not type(None)]
        if len(optional) == 1 and len(get_args(annotation)) == 2:
            return _kind(optional[0])
    return "text"


def describe(path: str, group: str, plausible: tuple[float, float, str] | None = None) -> Lever:
    """The lever at `path`, as the schema describes it."""
    from sim.scenario_io import field_info
    info, annotation = field_info(path)
    description = info.description or ""
    unit = re.search(r"\[([^\]]+)\]", description)
    kind = _kind(annotation)
    bounds = _bounds(info, annotation)
    if unit:
        shown = unit.group(1)
    elif kind == "float" and re.fullmatch(r"(> )?0 to (< )?1", bounds):
        shown = "share"
    else:
        shown = ""
    parts = path.split(".")
    named = parts[2:] if parts[0] == "policies" else parts[1:] if len(parts) > 2 else parts[-1:]
    name = " ".join(p.replace("_", " ") for p in named if not p.isdigit() and p != "campaigns")
    item = re.search(r"\.(\d+)\.", path)
    if item:
        name = f"{name} (campaign {int(item.group(1)) + 1})"
    words = [repr(w) for a in get_args(annotation) if get_origin(a) is Literal for w in get_args(a)]
    if type(None) in get_args(annotation) and kind == "text":
        words.append("null")
    if words:
        bounds = " or ".join(x for x in (bounds, *words) if x)
    details = ", ".join(x for x in (shown, bounds) if x)
    label = f"{name} ({details})" if details and kind != "bool" else name
    help_text = description
    if plausible is not None:
        low, high, why = plausible
        help_text += f". Uncertain: plausible {low:g} to {high:g} ({why})"
    return Lever(path, group, kind, label, help_text, plausible is not None)


def levers_for(scenario: Scenario, uncertainties: list[Any]) -> list[Lever]:
    """The levers of a column starting from `scenario`: the market's, then each policy it has on or off (its
    switch and main levers), then the uncertainty set's assumptions that apply (a policy's only with it)."""
    from sim.policies import REGISTRY
    plausible = {u.path: (u.low, u.high, u.why) for u in uncertainties}
    levers = [describe(p, "Market", plausible.get(p)) for p in MARKET]
    levers += [describe(u.path, "Market assumptions", plausible[u.path]) for u in uncertainties
               if not u.path.startswith("policies.")]
    for name in sorted(REGISTRY):
        section = getattr(scenario.policies, name, None)
        if section is None:
            continue
        title = REGISTRY[name].title
        paths = [f"policies.{name}.enabled"]
        for lever in POLICY_LEVERS.get(name, ()):
            if "{i}" in lever:
                paths += [f"policies.{name}.{lever.format(i=i)}" for i in range(len(section.campaigns))]
            else:
                paths.append(f"policies.{name}.{lever}")
        paths += [u.path for u in uncertainties if u.path.startswith(f"policies.{name}.") and u.path not in paths]
        levers += [describe(p, title, plausible.get(p)) for p in paths]
    return levers


def absent_policies(scenario: Scenario) -> list[tuple[str, str, str]]:
    """(name, title, library scenario) of each policy the scenario does not have, that a column can add with
    the settings of the library scenario of that policy."""
    from sim.policies import REGISTRY
    return [(name, REGISTRY[name].title, POLICY_SOURCES[name]) for name in sorted(REGISTRY)
            if getattr(scenario.policies, name, None) is None and name in POLICY_SOURCES]


def policy_section(name: str) -> dict[str, Any]:
    """A policy's section as its library scenario sets it (plain data, for `--set policies.<name>=...`)."""
    from sim.scenario_io import load_scenario
    section = getattr(load_scenario(library()[POLICY_SOURCES[name]]).policies, name)
    return section.model_dump(mode="json", exclude_none=True)


def value_at(scenario: Scenario, path: str) -> Any:
    """The scenario's value at a dotted path (list items by index)."""
    node: Any = scenario
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else node[part] if isinstance(node, dict) else getattr(node, part)
    return node


def as_text(value: Any) -> str:
    """A value as `--set` and YAML write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 and float(f"{value:g}") == value else repr(value)
    return str(value)


@dataclass
class ColumnSetting:
    """What one column stands for: a scenario file and the levers changed from it, plus the settings every
    column shares (sample size, horizon, seed)."""

    file: Path
    changes: dict[str, Any] = field(default_factory=dict)  # path -> value, only those that differ from the file
    common: list[str] = field(default_factory=list)

    @property
    def sets(self) -> list[str]:
        return [f"{p}={as_text(v)}" for p, v in self.changes.items()]

    def scenario(self) -> Scenario:
        """The scenario, checked by the schema (ScenarioError with its own message if not valid), named by
        the levers changed (as `run --set` names a run; a policy added whole is named '<policy>-on')."""
        from sim.scenario_io import load_scenario, named_by_overrides
        naming = [f"{p}=on" if isinstance(v, dict) else f"{p}={as_text(v)}" for p, v in self.changes.items()]
        return named_by_overrides(load_scenario(self.file, [*self.common, *self.sets]), naming)

    def yaml(self, scenario: Scenario) -> str:
        """The scenario file this column stands for (it extends the file it starts from), with the name and
        description the column's scenario has."""
        from sim.scenario_io import override_document
        doc = override_document(self.file, [*self.common, *self.sets], scenario.name, scenario.description.strip())
        return yaml.safe_dump(doc, sort_keys=False, width=100)

    def command(self) -> str:
        """The equivalent command line: `python run.py run FILE --set ...`."""
        shown = _shown_path(self.file)
        return " ".join(["python run.py run", shlex.quote(shown),
                         *(f"--set {shlex.quote(s)}" for s in [*self.common, *self.sets])])


def _shown_path(file: Path) -> str:
    try:
        return str(Path(file).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(file)


def library() -> dict[str, Path]:
    """The shipped scenarios by name (baseline first), the files a column can start from."""
    from experiments.library import scenario_file
    folder = scenario_file("baseline.yaml").parent
    files = sorted(p for p in folder.glob("*.yaml") if p.name not in ("uncertainties.yaml", "bench.yaml"))
    return dict(sorted(((p.stem, p) for p in files), key=lambda kv: (kv[0] != "baseline", kv[0])))

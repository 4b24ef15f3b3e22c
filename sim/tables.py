"""The tables `run` and `compare` print: the main KPIs, and each scenario's change vs the baseline.

Shares are shown in % and their changes in percentage points (pp); counts without decimals;
money with thousands separators in the scenario's currency.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.kpis import CATALOGUE, Kpi

if TYPE_CHECKING:
    import pandas as pd

COUNT_UNITS = ("orders", "customers", "shoppers", "merchants", "coupons", "sign-ups", "rewards", "points",
               "(merchant, category) pairs", "units", "attempts")


def _format_of(unit: str) -> str:
    """A format for a KPI of this unit, in the style of TABLE."""
    if unit.startswith("share"):
        return "{:.2%}"
    if unit in COUNT_UNITS:
        return "{:,}"
    if unit.startswith("currency"):
        return "{:,.2f} {cur}" if " per " in unit else "{:,.0f} {cur}"
    return "{:,.3f} " + unit.replace("{", "(").replace("}", ")")


def row(kpi: Kpi) -> tuple[str, str, str]:
    """(key, label, format) of a KPI in the printed tables."""
    return kpi.name, kpi.title, kpi.fmt or _format_of(kpi.unit)


# (summary key, label, format) of the printed table: the catalogue's KPIs marked `shown`, in its order
TABLE = tuple(row(k) for k in CATALOGUE if k.shown)


def policy_rows(policies: list[str]) -> list[tuple[str, str, str]]:
    """(key, label, format) of the headline KPIs of the policies that are on, after TABLE's, once each."""
    from sim.kpis import by_name
    from sim.policies import REGISTRY, policy_kpis
    catalogue = by_name([*by_name().values(), *policy_kpis()])
    shown = {k for k, _, _ in TABLE}
    rows = []
    for name in sorted(policies):
        for key in REGISTRY[name].headline:
            if key not in shown:
                shown.add(key)
                rows.append(row(catalogue[key]))
    return rows


def policy_owners() -> dict[str, set[str]]:
    """KPI -> the policies it belongs to: a policy's own KPIs, and catalogue KPIs made only of its ledger flows
    (subsidy_cost, carbon_levy, ...), TABLE's excepted. Where none of them is on the KPI means nothing and
    tables show "—"; market KPIs a policy merely heads (delivery days, carbon per order) apply everywhere."""
    from sim.kpis import by_name
    from sim.policies import REGISTRY
    core = {k for k, _, _ in TABLE}
    catalogue = by_name()
    owners: dict[str, set[str]] = {}
    for name, cls in REGISTRY.items():
        for key in [*(k.name for k in cls.kpis), *cls.headline]:
            kpi = catalogue.get(key)
            own = kpi is None or bool(kpi.flows) and set(kpi.flows) <= set(cls.flows)
            if own and key not in core:
                owners.setdefault(key, set()).add(name)
    return owners


def kpi_applies(key: str, policies_on: set[str], owners: dict[str, set[str]]) -> bool:
    """Whether a KPI means something in a scenario with `policies_on`: not one of policies' (policy_owners), or
    one of those policies is on."""
    return key not in owners or bool(owners[key] & policies_on)


# The change of carbon_kg in a comparison, split (experiments/comparison.py): what fewer or more orders
# account for, and what a change of carbon per order does; lost sales are not a carbon saving.
CARBON_SPLIT = {"carbon_change_from_orders_kg": "  of which: orders lost or won",
                "carbon_change_from_carbon_per_order_kg": "  of which: a change of carbon per order"}


def format_comparison(table: pd.DataFrame, names: list[str], replications: int, currency: str,
                      policies: list[str] | tuple[str, ...] = (), enabled: dict[str, set[str]] | None = None) -> str:
    """One block per scenario: its mean and its change vs the baseline with the 95% paired interval;
    below the core KPIs, the headline KPIs of every policy on in any of the scenarios.

    Shares are shown in % and their changes in percentage points (pp); counts without decimals. With
    `enabled` (scenario -> its policies on), a policy's KPI is "—" in a scenario where none of its policies is.
    """
    owners = policy_owners()

    def off(name: str, key: str) -> bool:
        return enabled is not None and not kpi_applies(key, enabled.get(name, set()), owners)

    keys = [*TABLE, *policy_rows(list(policies))]
    width = max(len(label) for _, label, _ in keys)
    lines = [f"mean of {replications} replications per scenario; change vs {names[0]} with 95% paired CI "
             f"(money in {currency}, shares in %, their changes in percentage points)",
             f"{'':<{width}}  {names[0]:>14}"]
    base = table[table["scenario"] == names[0]].set_index("kpi")
    lines += [f"{label:<{width}}  {'—' if off(names[0], key) else format_value(base.loc[key, 'mean'], fmt):>14}"
              for key, label, fmt in keys]
    for name in names[1:]:
        lines += ["", f"{name:<{width}}  {'mean':>14}  {'change':>12}  {'95% CI':<28} {'relative':>9}"]
        rows = table[table["scenario"] == name].set_index("kpi")
        for key, label, fmt in keys:
            r = rows.loc[key]
            if off(name, key):
                lines.append(f"{label:<{width}}  {'—':>14}")
                continue
            rel = "" if not np.isfinite(r["relative_delta"]) else f"{r['relative_delta']:+.1%}"
            ci = format_ci(r["ci_low"], r["ci_high"], fmt)
            lines.append(f"{label:<{width}}  {format_value(r['mean'], fmt):>14}  "
                         f"{format_change(r['delta_vs_baseline'], fmt):>12}  "
                         f"{ci:<28} {rel:>9}")
            if key == "carbon_kg":  # the change split: lost sales are not a carbon saving
                for part, part_label in CARBON_SPLIT.items():
                    if part in rows.index:
                        p = rows.loc[part]
                        ci = format_ci(p["ci_low"], p["ci_high"], fmt)
                        change = format_change(p["delta_vs_baseline"], fmt)
                        lines.append(f"{part_label:<{width}}  {'':>14}  {change:>12}  {ci:<28}")
    return "\n".join(lines)


def _missing(v: float | None) -> bool:
    """A KPI a run could not measure (None in summary.json, NaN in a comparison): printed n/a."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def format_value(v: float | None, fmt: str) -> str:
    """A KPI's value in the style of its table format (n/a when it was not measured)."""
    if _missing(v):
        return "n/a"
    if "%" in fmt:
        return f"{v:.2%}"
    if fmt == "{:,}":
        return f"{v:,.0f}"
    return _num(v)


def format_change(v: float | None, fmt: str) -> str:
    """A change of a KPI: percentage points for shares, signed numbers otherwise (n/a when not measured)."""
    if _missing(v):
        return "n/a"
    if "%" in fmt:
        return f"{100 * v:+.2f} pp"
    if fmt == "{:,}":
        return f"{v:+,.0f}" if abs(v) >= 10 or v == 0 else f"{v:+,.1f}"
    return _num(v, "+")


def _num(value: float, sign: str = "") -> str:
    """Readable at any scale: thousands separators for large values, 4 decimals for shares."""
    v = float(value)
    if abs(v) >= 100:
        return f"{v:{sign},.0f}"
    if abs(v) >= 0.01 or v == 0:
        return f"{v:{sign},.2f}"
    return f"{v:{sign}.4f}"  # fixed decimals, never scientific notation


def format_ci(low: float | None, high: float | None, fmt: str) -> str:
    """An interval of a change, "[low, high]", each end as format_change writes it."""
    return f"[{format_change(low, fmt)}, {format_change(high, fmt)}]"


def format_table(summary: dict, currency: str, title: str, policies: list[str] | tuple[str, ...] = ()) -> str:
    """The core KPIs of one run, then the headline KPIs of the policies that are on."""
    extra = policy_rows(list(policies))
    width = max(len(label) for _, label, _ in (*TABLE, *extra))
    lines = [title, "-" * (width + 24)]
    for key, label, fmt in TABLE:
        value = summary.get(key)
        lines.append(f"{label:<{width}}  {'n/a' if value is None else fmt.format(value, cur=currency)}")
    if extra:
        lines.append(f"policies on: {', '.join(sorted(policies))}")
        for key, label, fmt in extra:
            value = summary.get(key, 0)
            value = int(round(value)) if fmt == "{:,}" else value
            lines.append(f"{label:<{width}}  {fmt.format(value, cur=currency)}")
    represented = summary.get("shoppers_represented", 0)
    simulated = summary.get("gmv", 0) / summary["gmv_per_shopper"] if summary.get("gmv_per_shopper") else 0
    if represented and simulated and represented > round(simulated):
        lines.append(f"a sample of {round(simulated):,} of the platform's {represented:,} shoppers; at its scale:")
        for key in ("gmv", "orders", "platform_profit", "merchant_profit"):
            fmt = dict((k, f) for k, _, f in TABLE).get(key, "{:,.0f}")
            value = summary[f"{key}_at_scale"]
            value = int(round(value)) if fmt == "{:,}" else value
            lines.append(f"{key.replace('_', ' ') + ' (platform)':<{width}}  {fmt.format(value, cur=currency)}")
    return "\n".join(lines)


def format_targets(targets: pd.DataFrame) -> str:
    """Each target with its estimate, interval and status (met, not met, inconclusive)."""
    lines = ["targets"]
    for _, t in targets.iterrows():
        lines.append(f"  {t['scenario']}: {t['kpi']} {t['measure']} {t['goal']}: {t['estimate']:+.4g} "
                     f"[{t['ci_low']:+.4g}, {t['ci_high']:+.4g}] -> {t['status'].upper()}")
    return "\n".join(lines)

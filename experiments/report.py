"""`run.py report DIR`: a report a team can hand to leadership as it is, rebuilt from a results
folder alone (a run, a comparison or a sweep): DIR/report.html, self-contained (images inline,
no network reference) and DIR/report.pdf with the same content.

The HTML comes from a jinja2 template (experiments/templates/report.html.j2). The PDF is drawn
with matplotlib's PDF backend (PdfPages): the charts are matplotlib figures already, so no
second rendering engine (and no browser) is needed; text pages are laid out as figure text.
"""

from __future__ import annotations

import base64
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.errors import ScenarioError

HOW_TO_READ = {
    "run": ("One simulated run of one scenario: one draw of the market's randomness. The numbers show what "
            "the model does; how sure they are needs replications (`run.py compare`). Money is in the "
            "scenario's currency; churn is what a retailer observes (no order for the churn window), the "
            "latent dropout rate beside it is what the simulator knows to be true."),
    "compare": ("Each scenario ran several times with the same random draws as the baseline (common random "
                "numbers), so a change is the scenario's effect, not luck. A change is shown with its 95% "
                "paired interval: when the interval includes zero, the scenario may not change that KPI at all. "
                "Rates change in percentage points. Targets are met only when the whole interval meets them."),
    "sweep": ("A sweep ran the base scenario over many settings of the levers (what the platform controls) and "
              "uncertainties (what it does not)."),
}
FEW_MERCHANTS = 20  # fewer active merchants: the report says the merchants' KPIs rest on a handful of them
SWEEP_PARTS = {  # what each part of a sweep's analysis means: said only where the sweep's design produced it
    "sensitivity-*.png": "Sensitivity indices say which of them move a KPI.",
    "pareto.csv": "The Pareto set lists the lever settings no other setting beats on every objective.",
    "robustness.csv": "Regret says how far a setting falls short of the best one when the market turns out "
                      "differently.",
}


@dataclass
class Report:
    """Everything a report shows, whatever the output format."""

    kind: str
    title: str
    subtitle: str
    questions: list[tuple[str, str]]  # (scenario or sweep, its description)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (heading, table of strings)
    charts: list[tuple[str, Path]] = field(default_factory=list)  # (heading, PNG)
    notes: list[str] = field(default_factory=list)
    how_to_read: str = ""
    appendix: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # tables after the charts


def _question(scenario: Any) -> str:
    """A scenario's question as the report states it: its description, and when its policies start."""
    return " ".join(filter(None, [scenario.description.strip(), scenario.policy_timing()]))


def _few_merchants(comparison: pd.DataFrame, base: Any) -> str | None:
    """A note when fewer than FEW_MERCHANTS merchants are active at the end in some scenario (the means over
    replications, rounded): the merchants' KPIs then rest on a handful of them. None otherwise."""
    merchants = comparison[comparison["kpi"] == "merchants_active_end"]["mean"]
    few = round(float(merchants.min())) if len(merchants) else FEW_MERCHANTS
    if few >= FEW_MERCHANTS:
        return None
    more = ("A larger sample of shoppers brings more (merchants scale with it)." if base.shoppers.represents
            is not None else "Raise merchants.count for more.")
    if few == 0:
        return f"No merchant is active at the end in the smallest case: the merchants' KPIs say nothing. {more}"
    return (f"Only {few:,} merchant{'' if few == 1 else 's'} {'is' if few == 1 else 'are'} active at the end in the "
            f"smallest case: the merchants' KPIs (profit, satisfaction, merchants who left) rest on a handful of "
            f"merchants. {more}")


def _overridden(manifest: dict[str, Any]) -> str:
    """What the command changed in every scenario (`--set`), after the question its file describes: a
    description's figures (100,000 shoppers) are the file's, not necessarily the comparison's."""
    sets = manifest.get("overrides") or []
    return f" (This comparison ran it with {', '.join(sets)}.)" if sets else ""


def _need(folder: Path, *names: str) -> None:
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        raise ScenarioError(str(folder), None, f"missing {', '.join(missing)}: give a folder written by run.py run, "
                            "compare or sweep (and analyze), complete")


def _read_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        out = {}
        for i, v in enumerate(data):
            out.update(_flatten(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: data}


def parameter_sources() -> dict[str, str]:
    """docs/parameters.md's source column by parameter path (empty outside a checkout of the project)."""
    from sim.runner import PROJECT_ROOT
    path = Path(PROJECT_ROOT) / "docs" / "parameters.md"
    if not path.is_file():
        return {}
    sources = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            sources[cells[0].strip("`")] = cells[-1]
    return sources


def differences(base: dict[str, Any], other: dict[str, Any], sources: dict[str, str]) -> pd.DataFrame:
    """The resolved parameters in which a scenario differs from the baseline, with their sources."""
    a, b = _flatten(base), _flatten(other)
    rows = []
    for path in sorted(set(a) | set(b)):
        if path in ("name", "description") or a.get(path) == b.get(path):
            continue
        generic = re.sub(r"\.\d+\.", ".<i>.", path)
        source = sources.get(path) or sources.get(generic) or sources.get(path.rsplit(".", 1)[0], "")
        rows.append({"parameter": path, "baseline": _show(a.get(path)), "scenario": _show(b.get(path)),
                     "source or assumption": _source_text(source)})
    return pd.DataFrame(rows, columns=["parameter", "baseline", "scenario", "source or assumption"])


def _figure(value: float) -> str:
    """A number of an analysis table: four significant digits, never in scientific notation (39,160, not
    3.916e+04; 0.000032, not 3.2e-05); none: "—"."""
    if not np.isfinite(value):
        return "—"
    value = value + 0.0  # no "-0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return np.format_float_positional(value, precision=4, unique=False, fractional=False, trim="-")


def _source_text(markdown: str, width: int = 400) -> str:
    """A source from docs/parameters.md as plain text for a table (links as their text, no code marks),
    shortened at a word to `width` characters (the whole text: docs/parameters.md)."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", markdown).replace("`", "").replace("**", "")
    return textwrap.shorten(text, width, placeholder=" ... (docs/parameters.md)")


def _show(value: Any) -> str:
    return "—" if value is None else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _key_rows(policies: list[str]) -> list[tuple[str, str, str]]:
    from sim.tables import TABLE, policy_rows
    return [*TABLE, *policy_rows(policies)]


def _verdict_table(folder: Path) -> tuple[str, pd.DataFrame]:
    """verdicts.csv as a leadership table: human KPI labels, the change with its interval, the verdict."""
    from sim.kpis import by_name
    from sim.tables import format_change, format_ci, row

    table = pd.read_csv(folder / "verdicts.csv", keep_default_na=False)
    kpis = by_name()
    rows = []
    for r in table.itertuples():
        _, label, fmt = row(kpis[r.kpi])
        rows.append({"scenario": r.scenario, "KPI": label,
                     "change [95% interval, pooled]": f"{format_change(r.mean_change, fmt)} "
                     f"{format_ci(r.ci_low, r.ci_high, fmt)}",
                     "sign holds at": f"{r.sign_share:.0%} of {r.points} points" if r.points else "n/a",
                     "verdict": r.verdict})
    return ("Verdicts across the uncertainty set (scenarios/uncertainties.yaml): robust = the sign holds at 90% "
            "of the points and the pooled interval excludes zero", pd.DataFrame(rows))


def _compare_report(folder: Path) -> Report:
    from sim.policies import enabled_policies
    from sim.scenario_io import load_scenario
    _need(folder, "comparison.csv", "manifest.json", "targets.csv", "scenarios", "charts/deltas.png")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    names, reps = manifest["scenarios"], manifest["replications"]
    resolved = {n: folder / "scenarios" / f"{n}.resolved.yaml" for n in names}
    _need(folder, *(f"scenarios/{n}.resolved.yaml" for n in names))
    scenarios = {n: load_scenario(p) for n, p in resolved.items()}
    base = scenarios[names[0]]
    currency = base.simulation.currency
    table = pd.read_csv(folder / "comparison.csv")
    on = sorted({p for s in scenarios.values() for p in enabled_policies(s.policies)})
    from sim.kpis import by_name
    from sim.policies import policy_kpis
    units = {k.name: k.unit for k in [*by_name().values(), *policy_kpis()]}
    from sim.tables import CARBON_SPLIT, TABLE, policy_owners, policy_rows
    core = {key for key, _, _ in TABLE}
    owners = policy_owners()  # the policies' KPIs mean nothing where none of their policies is on
    has = {n: set(enabled_policies(s.policies)) for n, s in scenarios.items()}
    units.update(dict.fromkeys(CARBON_SPLIT, units["carbon_kg"]))
    # the change of carbon split below it: lost sales are not a carbon saving
    keys = []
    for key_row in TABLE:
        keys.append(key_row)
        if key_row[0] == "carbon_kg":
            keys += [(part, label.strip(), key_row[2]) for part, label in CARBON_SPLIT.items()]
    rows = _key_number_rows(table, names, keys, owners, has, units, currency)
    policy_table = _key_number_rows(table, names, [r for r in policy_rows(on) if r[0] not in core], owners, has,
                                    units, currency)
    overridden = _overridden(manifest)  # what the command set in every scenario, beyond its file
    report = Report(
        "compare", (f"{', '.join(names[1:])} compared with {names[0]}" if len(", ".join(names)) <= 60
                    else f"{len(names) - 1} scenarios compared with {names[0]}"),
        f"{reps} paired replications per scenario; {base.shoppers.count:,} shoppers; {base.simulation.days} days "
        f"from {base.simulation.start_date}; money in {currency}; " + (
            f"seeds {', '.join(map(str, manifest['seeds']))}" if len(manifest["seeds"]) <= 3
            else f"{len(manifest['seeds'])} seeds (runs.csv), the first {manifest['seeds'][0]}"),
        [(n, (_question(s) or "(no description)") + overridden if overridden else _question(s))
         for n, s in scenarios.items()],
        how_to_read=HOW_TO_READ["compare"])
    if len(policy_table):
        report.appendix.append(("Appendix: the policies' KPIs with their 95% intervals (— where their policy is off; "
                                 "a level, not a change, where the baseline has not the policy; all: comparison.csv)",
                                policy_table))
    return _compare_report_rest(folder, report, names, reps, scenarios, rows)


def _key_number_rows(table: pd.DataFrame, names: list[str], keys: list[tuple[str, str, str]],
                     owners: dict[str, set[str]], has: dict[str, set[str]], units: dict[str, str],
                     currency: str) -> pd.DataFrame:
    """One row per KPI: its unit, the baseline's mean and each scenario's change with its interval ("—" where
    the KPI belongs to policies that are off there, or is a change split the baseline has not). Where the
    baseline has not the KPI's policy, a scenario's cell is its level with its interval, cut at 0 (a
    policy's KPIs, counts, costs and shares, cannot be negative; the t interval of three runs can be) and,
    for shares, at 1."""
    from sim.tables import CARBON_SPLIT, format_change, format_ci, format_value, kpi_applies
    rows = []
    for key, label, fmt in keys:
        sub = table[table["kpi"] == key].set_index("scenario")
        if sub.empty:
            continue
        applies = {n: kpi_applies(key, has[n], owners) for n in names}
        row = {"KPI": label, "unit": units.get(key, "").replace("currency", currency),
               names[0]: format_value(sub.loc[names[0], "mean"], fmt) if applies[names[0]] and key not in CARBON_SPLIT
               else "—"}
        for n in names[1:]:
            r = sub.loc[n]
            if not applies[n]:
                row[n] = "—"
            elif applies[names[0]] or key in CARBON_SPLIT:
                row[n] = f"{format_change(r['delta_vs_baseline'], fmt)} {format_ci(r['ci_low'], r['ci_high'], fmt)}"
            else:  # the baseline has not the policy (its value 0 in every replication): the level, not a change
                level = sub.loc[names[0], "mean"]
                low, high = max(r["ci_low"] + level, 0.0), r["ci_high"] + level  # a policy's KPIs are never negative
                if units.get(key, "") in ("share", "0 or 1"):  # ... and a share never above 1
                    high = min(high, 1.0)
                row[n] = f"{format_value(r['mean'], fmt)} [{format_value(low, fmt)}, {format_value(high, fmt)}]"
        rows.append(row)
    return pd.DataFrame(rows)


def _compare_report_rest(folder: Path, report: Report, names: list[str], reps: int, scenarios: dict,
                         rows: pd.DataFrame) -> Report:
    """The comparison report's tables after the question: verdicts, key numbers, targets, assumptions, charts."""
    if (folder / "verdicts.csv").is_file():  # robust verdicts first: what holds whatever the assumptions
        report.tables.append(_verdict_table(folder))
    report.tables.append((f"Key numbers: {names[0]}'s mean, and each scenario's change with its 95% interval",
                          rows))
    targets = pd.read_csv(folder / "targets.csv")
    if len(targets):
        from sim.style import target_texts
        texts = [target_texts(t.kpi, t.measure, t.goal, t.estimate, t.ci_low, t.ci_high) for t in targets.itertuples()]
        report.tables.append(("Targets (met only when the whole interval meets them)", pd.DataFrame({
            "scenario": targets["scenario"], "kpi": targets["kpi"], "goal": [g for g, _ in texts],
            "estimate [95% interval]": [e for _, e in texts], "status": targets["status"]})))
    sources = parameter_sources()
    raw = {n: _read_yaml(folder / "scenarios" / f"{n}.resolved.yaml") for n in names}
    for n in names[1:]:
        diff = differences(raw[names[0]], raw[n], sources)
        report.tables.append((f"Assumptions: where {n} differs from {names[0]}", diff))
    shown = [("deltas", "Change of the key KPIs"), ("targets", "Targets"), ("bridge", "Platform profit, line by line"),
             ("tradeoff", "Growth, profit and carbon"), ("fan", "Over time, with the spread of the replications"),
             ("lifecycle", "Customers by lifecycle state"), ("retention", "Do new customers come back?")]
    if not (folder / "charts" / "fan.png").exists():  # series.png is fan.png's means without its bands and profit
        shown.append(("series", "Over time, replication means"))
    report.charts += [(heading, folder / "charts" / f"{name}.png") for name, heading in shown
                      if (folder / "charts" / f"{name}.png").exists()]
    from sim.style import MIN_REPLICATIONS
    few = _few_merchants(pd.read_csv(folder / "comparison.csv"), scenarios[names[0]])
    if few:
        report.notes.append(few)
    if reps < MIN_REPLICATIONS:
        report.notes.append(f"Only {reps} replications: the intervals are too wide to decide on; rerun with "
                            f"--replications {MIN_REPLICATIONS} or more.")
    return report


def _run_report(folder: Path) -> Report:
    from sim.policies import enabled_policies
    from sim.scenario_io import load_scenario
    from sim.tables import format_value
    _need(folder, "summary.json", "scenario.resolved.yaml", "pnl.csv", "charts/kpis.png")
    sc = load_scenario(folder / "scenario.resolved.yaml")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    rows = [{"KPI": label, "value": format_value(summary[key], fmt)} for key, label, fmt
            in _key_rows(enabled_policies(sc.policies)) if key in summary]
    report = Report("run", f"{sc.name}: one run", f"{sc.shoppers.count:,} shoppers; {sc.simulation.days} days from "
                    f"{sc.simulation.start_date}; seed {sc.seed}; money in {sc.simulation.currency}",
                    [(sc.name, _question(sc))],
                    how_to_read=HOW_TO_READ["run"])
    report.tables.append(("Key numbers", pd.DataFrame(rows)))
    pnl = pd.read_csv(folder / "pnl.csv")
    pnl = pnl.assign(amount=pnl["amount"].map(lambda v: f"{v:,.0f}"),
                     share_of_gmv=pnl["share_of_gmv"].map(lambda v: f"{v:.1%}"))
    report.tables.append((f"Profit and loss, line by line ({sc.simulation.currency}; share of GMV)", pnl))
    report.charts += [(heading, folder / "charts" / f"{name}.png") for name, heading in (
        ("kpis", "The run at a glance"), ("retention", "Do new customers come back?"),
        ("supply_chain", "Operations")) if (folder / "charts" / f"{name}.png").exists()]
    report.notes.append("One run has no interval: compare it with a baseline over 5 or more replications "
                        "(run.py compare) before deciding anything.")
    return report


def _sweep_report(folder: Path) -> Report:
    _need(folder, "spec.json", "runs.parquet", "analysis/summary.txt")
    spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    analysis = folder / "analysis"
    sets = spec.get("sets") or []  # what the sweep changes in its base for every run (a smaller market, ...)
    report = Report("sweep", f"Sweep {spec['name']}", f"design {spec['design']['kind']}; "
                    f"{len(pd.read_parquet(folder / 'runs.parquet', columns=['point']))} runs; base "
                    f"{Path(spec['base']).name}" + (f" with {', '.join(sets)} in every run" if sets else ""),
                    [(spec["name"], spec.get("description", "").strip())],
                    how_to_read=" ".join([HOW_TO_READ["sweep"], *(text for pattern, text in SWEEP_PARTS.items()
                                                                   if any(analysis.glob(pattern)))]))
    report.notes.append((analysis / "summary.txt").read_text(encoding="utf-8"))
    sources = parameter_sources()
    rows = []
    for kind in ("levers", "uncertainties"):
        for p in spec.get(kind, []):
            values = (", ".join(map(str, p["levels"])) if p.get("levels") is not None
                      else f"{p['low']:g} to {p['high']:g}" + (" (whole numbers)" if p.get("integer") else ""))
            generic = re.sub(r"\.\d+\.", ".<i>.", p["path"])
            source = sources.get(p["path"]) or sources.get(generic, "")
            rows.append({"parameter": p["path"], "kind": kind[:-1] if kind == "levers" else "uncertainty",
                         "values": values, "source or assumption of its default": _source_text(source)})
    report.tables.append(("What was varied", pd.DataFrame(rows)))
    for name, heading in (("convergence.csv", "Was the sample large enough?"),
                          ("pareto.csv", "Lever settings and the Pareto set"),
                          ("robustness.csv", "Robustness across the uncertainty sample")):
        if (analysis / name).exists():
            table = pd.read_csv(analysis / name)
            report.tables.append((heading, table.map(lambda v: _figure(v) if isinstance(v, float) else str(v))))
    for png in sorted(analysis.glob("*.png")):
        report.charts.append((png.stem.replace("-", ": ").replace("_", " "), png))
    return report


def _redraw(folder: Path) -> None:
    """Draw a comparison's charts again from its files (the house style may be newer than the folder);
    each chart replaces the old one in a single rename. A folder from before series.parquet and pnl.csv
    keeps the charts it has."""
    import os
    import shutil
    import tempfile

    from experiments.comparison import draw_charts
    if not all((folder / n).exists() for n in ("series.parquet", "pnl.csv", "targets.csv", "scenarios")):
        return
    import sys
    tmp = Path(tempfile.mkdtemp(prefix=".charts.", dir=folder))
    try:
        draw_charts(folder, tmp)
        (folder / "charts").mkdir(exist_ok=True)
        for path in tmp.iterdir():
            os.replace(path, folder / "charts" / path.name)
    except (OSError, ValueError, KeyError) as exc:  # damaged or older files: the charts the folder has
        print(f"warning: charts not redrawn ({type(exc).__name__}: {exc}); the report uses the folder's charts",
              file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build(folder: str | Path) -> Report:
    """The report of a results folder, whatever wrote it (bad or incomplete folder: ScenarioError)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScenarioError(str(folder), None, "not a folder: give a results folder of run.py run, compare or sweep")
    if (folder / "comparison.csv").exists():
        _redraw(folder)
        return _compare_report(folder)
    if (folder / "spec.json").exists():
        from experiments.batch import read_spec
        if read_spec(folder, str(folder)).get("kind") == "compare":
            raise ScenarioError(str(folder), None, "a comparison whose runs have not all finished (no "
                                "comparison.csv): run the same compare command with --out to finish it")
        return _sweep_report(folder)
    if (folder / "summary.json").exists():
        return _run_report(folder)
    raise ScenarioError(str(folder), None, "not a results folder (no summary.json, comparison.csv or spec.json)")


def html(report: Report) -> str:
    """The report as one self-contained HTML page (charts inline as base64 PNG)."""
    from jinja2 import Environment, PackageLoader
    env = Environment(loader=PackageLoader("experiments", "templates"), autoescape=True)  # .j2: escape always
    charts = [(heading, base64.b64encode(path.read_bytes()).decode("ascii")) for heading, path in report.charts
              if path.exists()]
    tables = [(heading, table.to_dict("records"), list(table.columns), _text_columns(table))
              for heading, table in report.tables]
    appendix = [(heading, table.to_dict("records"), list(table.columns), _text_columns(table))
                for heading, table in report.appendix]
    return env.get_template("report.html.j2").render(report=report, charts=charts, tables=tables, appendix=appendix)


def pdf(report: Report, path: Path) -> None:
    """The same content as PDF pages: text and tables first, then one chart per page."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path, metadata={"Title": report.title, "Creator": "ecomsim run.py report"}) as pages:
        blocks = [*(("title", line) for line in textwrap.wrap(report.title, 75)),
                  *(("sub", line) for line in textwrap.wrap(report.subtitle, 130))]
        for name, text in report.questions:
            blocks.append(("head", f"The question: {name}"))
            blocks += [("text", line) for line in textwrap.wrap(text or "(no description)", 110)]
        blocks.append(("head", "How to read this"))
        blocks += [("text", line) for line in textwrap.wrap(report.how_to_read, 110)]
        for note in report.notes:
            blocks += _kept("mono", note.splitlines()) if "\n" in note else _kept("warn", textwrap.wrap(note, 110))
        for heading, table in report.tables:
            blocks.append(("head", heading))
            blocks += _table_blocks(table)
        _text_pages(pages, plt, blocks)
        for heading, png in report.charts:
            if not png.exists():
                continue
            image = mpimg.imread(png)
            h, w = image.shape[:2]
            fig = plt.figure(figsize=(11.69, 8.27))  # A4 landscape
            ax = fig.add_axes((0.03, 0.03, 0.94, 0.88))
            ax.imshow(image, interpolation="none")  # the PNG's own pixels, not resampled at the PDF's 100 dpi
            ax.set_aspect("equal")
            ax.axis("off")
            fig.text(0.03, 0.95, heading, fontsize=14, fontweight="bold")
            pages.savefig(fig)
            plt.close(fig)
            del h, w
        if report.appendix:
            blocks = []
            for heading, table in report.appendix:
                blocks.append(("head", heading))
                blocks += _table_blocks(table)
            _text_pages(pages, plt, blocks)


def _text_rows(table: pd.DataFrame, width: int = 70, line: int = 190) -> list[list[str]]:
    """Fixed-width text, as the lines of each row (the header first; a PDF page keeps a row's lines
    together): the first column and columns of words (names, sources) left-aligned, numbers right-aligned;
    a cell longer than `width` characters wraps onto more lines of its row; a table wider than `line`
    characters is split into blocks of columns (a blank line between), each repeating the first column (and
    the units column, if the second is one)."""
    if table.empty:
        return [["(none)"]]
    cells = table.map(lambda v: textwrap.wrap(str(v), width) or [""])  # each cell: its lines
    columns = list(cells.columns)
    first = columns[0]
    fixed = columns[1:2] if columns[1:2] == ["unit"] else []
    rest = columns[1 + len(fixed):]
    widths = {c: max(len(c), max(len(x) for lines in cells[c] for x in lines)) for c in columns}
    words = {first, *_text_columns(table)}
    gap = "   "  # columns of intervals must not run into each other
    start = widths[first] + sum(len(gap) + widths[c] for c in fixed)
    blocks, block, used = [], [], start
    for c in rest:
        if block and used + len(gap) + widths[c] > line:
            blocks.append(block)
            block, used = [], start
        block.append(c)
        used += len(gap) + widths[c]
    blocks.append(block)

    def cell(text: str, c: str) -> str:
        return f"{text:<{widths[c]}}" if c in words else f"{text:>{widths[c]}}"

    def rows(b: list[str]) -> list[list[str]]:
        shown = [first, *fixed, *b]
        out = [[gap.join(cell(c, c) for c in shown).rstrip()]]
        for _, row in cells.iterrows():
            out.append([gap.join(cell(row[c][k] if k < len(row[c]) else "", c) for c in shown).rstrip()
                        for k in range(max(len(row[c]) for c in shown))])
        return out
    groups = []
    for i, b in enumerate(blocks):
        groups += [[""]] if i else []  # a blank line between blocks of columns
        groups += rows(b)
    return groups


FIGURE = re.compile(r"[+\-]?[\d.,]+(?:%| pp)?(?: \[[^\]]*\])?|—|n/a|")  # 1,234 / +5.0% [+1.0%, +9.0%] / -0.2 pp


def _text_columns(table: pd.DataFrame) -> set[str]:
    """The columns after the first (labels, always left) to align left: those whose cells are mostly not
    figures (names, kinds, verdicts, sources), text to read left to right; figures stay right-aligned, to be
    compared by their last digit."""
    return {c for c in table.columns[1:]
            if len(table) and table[c].astype(str).str.strip().map(lambda v: not FIGURE.fullmatch(v)).mean() >= 0.5}


def _kept(kind: str, lines: list[str], size: float | None = None) -> list[tuple]:
    """Text blocks of `kind` for lines that belong together (a wrapped heading, a note, a table row): the
    first, then the others as `kind`2, which _text_pages keeps on the first one's page; `size` (points)
    replaces the kind's font size, its line height scaled with it."""
    more = () if size is None else (size,)
    return [(kind, lines[0], *more), *((kind + "2", line, *more) for line in lines[1:])] if lines else []


PAGE_WIDTH_PT = 11.69 * 72  # A4 landscape
MONO_ADVANCE = 0.602  # DejaVu Sans Mono's advance width, in ems (every character the same)
TABLE_PT = (6.5, 9.5)  # a table's font size: the body text's where its widest line fits the page, down to 6.5


def _table_blocks(table: pd.DataFrame) -> list[tuple]:
    """A table as fixed-width text blocks (_text_rows), in the body text's size when its widest line fits
    the page's text width (0.04 to 0.96 of it), smaller as far as it must to fit."""
    groups = _text_rows(table)
    widest = max((len(line) for group in groups for line in group), default=1)
    fits = 0.92 * PAGE_WIDTH_PT / (MONO_ADVANCE * max(widest, 1))
    size = round(min(TABLE_PT[1], max(TABLE_PT[0], fits)), 1)
    return [block for group in groups for block in _kept("mono", group, size)]


def _text_pages(pages, plt, blocks: list[tuple]) -> None:
    """Lay text blocks (kind, text[, size in points]) out on A4 landscape pages, top to bottom."""
    styles = {"title": (18, "bold", "black", "sans-serif", 0.045), "sub": (10, "normal", "#555555", "sans-serif", 0.04),
              "head": (12, "bold", "black", "sans-serif", 0.04), "text": (9.5, "normal", "black", "sans-serif", 0.024),
              "warn": (9.5, "bold", "#b2182b", "sans-serif", 0.024), "mono": (7, "normal", "black", "monospace", 0.017)}
    styles["head2"] = styles["head"]  # a long heading's further lines: no gap above them
    styles["mono2"] = styles["mono"]  # a table row's (or a note's) further lines: kept on the page of its first
    styles["warn2"] = styles["warn"]
    blocks = [block for kind, text, *size in blocks
              for block in (_kept(kind, textwrap.wrap(text, 95) or [""]) if kind == "head" else [(kind, text, *size)])]

    def looks(block: tuple) -> tuple:
        """Font size, weight, colour, family and line height of a block: its kind's, or at its own size."""
        size, weight, colour, family, step = styles[block[0]]
        return (size, weight, colour, family, step) if len(block) < 3 else \
            (block[2], weight, colour, family, step * block[2] / size)

    fig, y = None, 0.0
    for i, block in enumerate(blocks):
        kind, text = block[:2]
        size, weight, colour, family, step = looks(block)
        # a heading or a table row keeps its further lines on its page, and a heading the first lines of
        # what it heads (up to five)
        more = 0
        while i + 1 + more < len(blocks) and blocks[i + 1 + more][0].endswith("2"):
            more += 1
        following = sum(looks(b)[4] for b in blocks[i + 1:i + 1 + more + (5 if kind == "head" else 0)])
        if fig is None or y - step - following < 0.04:
            if fig is not None:
                pages.savefig(fig)
                plt.close(fig)
            fig, y = plt.figure(figsize=(11.69, 8.27)), 0.95
        if kind == "head":
            y -= 0.015
        fig.text(0.04, y, text, fontsize=size, fontweight=weight, color=colour, family=family, va="top")
        y -= step
    if fig is not None:
        pages.savefig(fig)
        plt.close(fig)


def write(report: Report, folder: str | Path) -> tuple[Path, Path]:
    """DIR/report.html and DIR/report.pdf, each written whole or not at all."""
    from sim.outputs import replace_atomically
    folder = Path(folder)
    out_html, out_pdf = folder / "report.html", folder / "report.pdf"
    replace_atomically(out_html, lambda tmp: tmp.write_text(html(report), encoding="utf-8"))
    replace_atomically(out_pdf, lambda tmp: pdf(report, tmp))
    return out_html, out_pdf

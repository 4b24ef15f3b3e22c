"""Command line: `python run.py run SCENARIO.yaml [--out DIR] [--seed N] [--days D] [--set a.b=V ...]`.

Bad input prints one line naming the file (or option), the field path and what is allowed,
and exits with code 2 before anything is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

from sim.errors import ScenarioError

EXIT_BAD_INPUT = 2

# (summary key, label, format) for the printed table
TABLE = (
    ("gmv", "GMV", "{:,.0f} {cur}"),
    ("orders", "orders", "{:,}"),
    ("aov", "average order value", "{:,.2f} {cur}"),
    ("new_customers", "new customers", "{:,}"),
    ("customers_total", "customers (end)", "{:,}"),
    ("active_customers_end", "active customers (end)", "{:,}"),
    ("churn_rate_monthly", "churn rate, monthly", "{:.2%}"),
    ("retention_90d", "90-day retention", "{:.2%}"),
    ("repeat_purchase_rate", "repeat purchase rate", "{:.2%}"),
    ("platform_revenue", "platform revenue", "{:,.0f} {cur}"),
    ("platform_profit", "platform profit", "{:,.0f} {cur}"),
    ("merchant_profit", "merchant profit", "{:,.0f} {cur}"),
    ("cac", "CAC (acquisition spend / new customer)", "{:,.2f} {cur}"),
    ("fill_rate", "fill rate", "{:.2%}"),
    ("merchants_active_end", "merchants active (end)", "{:,}"),
    ("merchants_left", "merchants left (during the run)", "{:,}"),
    ("merchant_satisfaction", "merchant satisfaction", "{:.1%}"),
    ("carbon_kg", "carbon", "{:,.0f} kg CO2e"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="ecomsim: e-commerce marketplace simulator")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run one scenario and write its results folder")
    run.add_argument("scenario", help="scenario YAML file, e.g. scenarios/baseline.yaml")
    run.add_argument("--out", help="results folder (default: results/<name>-<timestamp>); must be new or empty")
    run.add_argument("--overwrite", action="store_true", help="replace an earlier result folder given by --out")
    _add_overrides(run)
    run.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    val = sub.add_parser("validate", help="reproduce the published results of DESIGN.md section 5; exit 1 on failure")
    val.add_argument("--quick", action="store_true", help="one case of each kind (about 10 s)")
    bench = sub.add_parser("bench", help="the standard benchmark (DESIGN.md section 6), timed by phase")
    bench.add_argument("scenario", nargs="?", default=None,
                       help="scenario to time (default: scenarios/bench.yaml of this project)")
    _add_overrides(bench)
    cmp = sub.add_parser("compare", help="compare scenarios with a baseline: replications, paired CIs")
    cmp.add_argument("baseline", help="the baseline scenario YAML")
    cmp.add_argument("scenarios", nargs="+", help="scenario YAML files to compare with it")
    cmp.add_argument("--replications", type=int, default=5, help="runs per scenario (default 5)")
    cmp.add_argument("--workers", type=int, default=None, help="parallel processes (default: the cores, at most 8)")
    cmp.add_argument("--out", help="results folder (default: results/compare-<timestamp>); must be new or empty")
    cmp.add_argument("--overwrite", action="store_true", help="replace an earlier result folder given by --out")
    _add_overrides(cmp)
    cmp.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    return parser


def _add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, help="override the scenario seed")
    p.add_argument("--days", type=int, help="override simulation.days")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override any scenario field by dotted path (repeatable)")


def overrides_from(args: argparse.Namespace) -> list[str]:
    sets = list(args.sets)
    if args.seed is not None:
        sets.append(f"seed={args.seed}")
    if args.days is not None:
        sets.append(f"simulation.days={args.days}")
    return sets


def _out_dir(args: argparse.Namespace, name: str) -> Path:
    """The results folder; an existing folder is replaced only if it is an earlier result and --overwrite."""
    if args.out:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ScenarioError(f"--out {args.out}", None, "exists and is not a folder")
        if out.is_dir() and any(out.iterdir()):
            earlier = (out / "manifest.json").is_file()
            if not (earlier and args.overwrite):
                hint = ("it holds an earlier result: pass --overwrite to replace it" if earlier
                        else "it is not an ecomsim result folder and would be replaced")
                raise ScenarioError(f"--out {args.out}", None, f"folder exists and is not empty ({hint}); "
                                    "choose a new folder")
        return out
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{name}-{stamp}"


def cmd_run(args: argparse.Namespace) -> int:
    from sim.runner import run_scenario, write_run
    from sim.scenario_io import load_scenario

    scenario = load_scenario(args.scenario, overrides_from(args))
    out = _out_dir(args, scenario.name)
    show = not args.quiet and sys.stderr.isatty()
    result = run_scenario(scenario, progress=show)
    write_run(result, out, args.scenario)
    if not args.quiet:
        print(format_table(result.summary, scenario.simulation.currency,
                           f"{scenario.name} ({scenario.simulation.days} days, seed {scenario.seed})"))
        print(f"\nwrote {out}/ in {result.wall_seconds:.1f} s of simulation")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from experiments.validation import format_results, run_all

    results = run_all(args.quick, progress=sys.stderr.isatty())
    print(format_results(results))
    return 0 if all(r.passed for r in results) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from experiments.bench import format_bench, run_bench
    from experiments.library import scenario_file
    from sim.scenario_io import load_scenario

    path = args.scenario or scenario_file("bench.yaml")
    scenario = load_scenario(path, overrides_from(args))
    print(format_bench(scenario.name, run_bench(scenario)))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import time

    from experiments import compare
    from experiments.executors import default_workers
    from experiments.runs import plan
    from sim.scenario_io import load_scenario

    if args.replications < 1 or args.replications > 1000:
        raise ScenarioError("--replications", None, f"must be 1 to 1000 (got {args.replications})")
    if args.workers is not None and args.workers < 1:
        raise ScenarioError("--workers", None, f"must be at least 1 (got {args.workers})")
    files = [args.baseline, *args.scenarios]
    scenarios = [load_scenario(f, overrides_from(args)) for f in files]  # all checked before any run
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ScenarioError(", ".join(files), "name", f"scenario names must differ to be compared (repeated: {dup})")
    base = scenarios[0]
    for sc in scenarios[1:]:
        if (sc.simulation.days, sc.shoppers.count) != (base.simulation.days, base.shoppers.count):
            print(f"note: {sc.name} runs {sc.simulation.days} days with {sc.shoppers.count:,} shoppers, the baseline "
                  f"{base.simulation.days} days with {base.shoppers.count:,}: its deltas mix the policy with the "
                  f"difference in size", file=sys.stderr)
    out = _out_dir(args, "compare")
    workers = args.workers or default_workers()
    specs = plan(scenarios, args.replications)
    show = not args.quiet and sys.stderr.isatty()
    if not args.quiet and not show:  # no terminal for a progress bar: say what is happening
        print(f"running {len(specs)} runs on {min(workers, len(specs))} workers ...", file=sys.stderr)
    start = time.perf_counter()
    results = compare.execute(scenarios, specs, min(workers, len(specs)), show)  # results never depend on workers
    workers = min(workers, len(specs))
    table, targets = compare.write_outputs(out, scenarios, files, specs, results, args.replications, workers,
                                           time.perf_counter() - start, overrides_from(args))
    if not args.quiet:
        print(format_comparison(table, names, args.replications, scenarios[0].simulation.currency))
        if len(targets):
            print("\ntargets")
            for _, t in targets.iterrows():
                print(f"  {t['scenario']}: {t['kpi']} {t['measure']} {t['goal']}: {t['estimate']:+.4g} "
                      f"[{t['ci_low']:+.4g}, {t['ci_high']:+.4g}] -> {t['status'].upper()}")
        print(f"\nwrote {out}/ ({len(specs)} runs, {workers} workers, {time.perf_counter() - start:.1f} s)")
    return 0


def format_comparison(table, names: list[str], replications: int, currency: str) -> str:
    """One block per scenario: its mean and its change vs the baseline with the 95% paired interval.

    Shares are shown in % and their changes in percentage points (pp); counts without decimals.
    """
    keys = [(k, label, fmt) for k, label, fmt in TABLE]
    width = max(len(label) for _, label, _ in keys)
    lines = [f"mean of {replications} replications per scenario; change vs {names[0]} with 95% paired CI "
             f"(money in {currency}, shares in %, their changes in percentage points)",
             f"{'':<{width}}  {names[0]:>14}"]
    base = table[table["scenario"] == names[0]].set_index("kpi")
    lines += [f"{label:<{width}}  {_value(base.loc[key, 'mean'], fmt):>14}" for key, label, fmt in keys]
    for name in names[1:]:
        lines += ["", f"{name:<{width}}  {'mean':>14}  {'change':>12}  {'95% CI':<28} {'relative':>9}"]
        rows = table[table["scenario"] == name].set_index("kpi")
        for key, label, fmt in keys:
            r = rows.loc[key]
            rel = "" if not np.isfinite(r["relative_delta"]) else f"{r['relative_delta']:+.1%}"
            ci = f"[{_change(r['ci_low'], fmt)}, {_change(r['ci_high'], fmt)}]"
            lines.append(f"{label:<{width}}  {_value(r['mean'], fmt):>14}  {_change(r['delta_vs_baseline'], fmt):>12}  "
                         f"{ci:<28} {rel:>9}")
    return "\n".join(lines)


def _value(v: float, fmt: str) -> str:
    if "%" in fmt:
        return f"{v:.2%}"
    if fmt == "{:,}":
        return f"{v:,.0f}"
    return _num(v)


def _change(v: float, fmt: str) -> str:
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
    if abs(v) >= 1:
        return f"{v:{sign},.2f}"
    return f"{v:{sign}.4f}"


def format_table(summary: dict, currency: str, title: str) -> str:
    width = max(len(label) for _, label, _ in TABLE)
    lines = [title, "-" * (width + 24)]
    for key, label, fmt in TABLE:
        lines.append(f"{label:<{width}}  {fmt.format(summary[key], cur=currency)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "validate":
            return cmd_validate(args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())

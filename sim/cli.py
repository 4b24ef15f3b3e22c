"""Command line: `python run.py run SCENARIO.yaml [--out DIR] [--seed N] [--days D] [--set a.b=V ...]`.

Bad input prints one line naming the file (or option), the field path and what is allowed,
and exits with code 2 before anything is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

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
    ("cac", "CAC (marketing / new customer)", "{:,.2f} {cur}"),
    ("fill_rate", "fill rate", "{:.2%}"),
    ("merchants_active_end", "merchants active (end)", "{:,}"),
    ("merchant_satisfaction", "merchant satisfaction", "{:.1%}"),
    ("carbon_kg", "carbon", "{:,.0f} kg CO2e"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="ecomsim: e-commerce marketplace simulator")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run one scenario and write its results folder")
    run.add_argument("scenario", help="scenario YAML file, e.g. scenarios/baseline.yaml")
    run.add_argument("--out", help="results folder (default: results/<name>-<timestamp>)")
    _add_overrides(run)
    run.add_argument("--quiet", action="store_true", help="no progress bar and no table")
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
    if args.out:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ScenarioError(f"--out {args.out}", None, "exists and is not a folder")
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
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `python run.py COMMAND ...` (run, compare, sweep, analyze, report, calibrate, validate,
bench, studio). It parses and dispatches; the work is in sim/runner.py (run) and experiments/ (every other
command: comparison.py, sweeps.py, analysis.py, report.py, calibration.py, validation.py, bench.py).

Bad input prints one line naming the file (or option), the field path and what is allowed,
and exits with code 2 before anything is written (a comparison whose runs fail also exits 2, keeping
the runs that finished). Ctrl-C during compare or sweep keeps the runs
that finished and says how to resume (exit 130).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from contextlib import contextmanager

from sim.errors import Interrupted, ScenarioError

EXIT_BAD_INPUT = 2
WORKERS_HELP = "parallel processes (default: the cores this process may use, a CPU quota of its cgroup or one " \
               "above it counted, at most 8)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="ecomsim: e-commerce marketplace simulator")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run one scenario and write its results folder")
    run.add_argument("scenario", help="scenario YAML file, e.g. scenarios/baseline.yaml")
    run.add_argument("--out", help="results folder (default: results/<name>-<timestamp>); must be new or empty")
    run.add_argument("--overwrite", action="store_true", help="replace an earlier result folder given by --out")
    _add_overrides(run)
    run.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    run.add_argument("--report", action="store_true", help="also write report.html and report.pdf")
    run.add_argument("--transactions", action="store_true", help="also write transactions.parquet: every served "
                     "order of the measured period (customer_id, day, date, amount), a log run.py calibrate reads")
    val = sub.add_parser("validate", help="reproduce the published results of DESIGN.md section 5; exit 1 on failure")
    val.add_argument("--quick", action="store_true", help="one case of each kind (about 40 s)")
    bench = sub.add_parser("bench", help="the standard benchmark (DESIGN.md section 6), timed by phase")
    bench.add_argument("scenario", nargs="?", default=None,
                       help="scenario to time (default: scenarios/bench.yaml of this project)")
    _add_overrides(bench)
    bench.add_argument("--against-mesa", action="store_true",
                       help="instead: `run` the scenario end to end and the plain Mesa reference model of the bare "
                       "BG/NBD rule (benchmarks/mesa_reference.py) at the same size, and print the ratio per "
                       "shopper-day")
    bench.add_argument("--batch", nargs="?", const="", default=None, metavar="SWEEP",
                       help="instead: `sweep` a spec (default: experiments/bench_sweep.yaml, 20 bench-size runs) on "
                       "1 worker, then --rounds times on 2 workers and 1, each in a process of its own, and print "
                       "the ratio of 2 workers' time to 1's, each round's and their median (about 5 minutes at bench "
                       "size with 3 rounds)")
    bench.add_argument("--rounds", type=int, default=None, metavar="K",
                       help="with --batch: how many two-worker sweeps, each between two one-worker sweeps (default "
                       "3; the machine's speed drifts from minute to minute, and the median of several rounds "
                       "moves less than one round)")
    cmp = sub.add_parser("compare", help="compare scenarios with a baseline: replications, paired CIs")
    cmp.add_argument("baseline", help="the baseline scenario YAML")
    cmp.add_argument("scenarios", nargs="+", help="scenario YAML files to compare with it")
    cmp.add_argument("--replications", type=int, default=5, help="runs per scenario (default 5)")
    cmp.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    cmp.add_argument("--out", help="results folder (default: results/compare-<timestamp>); new, or the folder of an "
                     "interrupted comparison of the same inputs, which resumes")
    cmp.add_argument("--overwrite", action="store_true", help="replace an earlier result folder given by --out")
    cmp.add_argument("--scheduler", help="address of a Dask scheduler (runs go to its workers)")
    cmp.add_argument("--no-cache", action="store_true", help="compute every run, neither reading nor filling the "
                     "run cache (default: runs with the same scenario, seed and code are reused; see docs/studio.md)")
    cmp.add_argument("--robust", type=int, default=0, metavar="N",
                     help="then judge every scenario across N Latin-hypercube points of the uncertainty set "
                     "(x --replications runs each): verdicts.csv, robust / depends on / no clear effect")
    cmp.add_argument("--uncertainties", metavar="FILE",
                     help="the uncertainty set for --robust (default: the shipped scenarios/uncertainties.yaml)")
    _add_overrides(cmp)
    cmp.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    cmp.add_argument("--report", action="store_true", help="also write report.html and report.pdf")
    swp = sub.add_parser("sweep", help="a batch experiment over levers and uncertainties (resumable)")
    swp.add_argument("spec", help="sweep spec YAML, e.g. experiments/smoke.yaml")
    swp.add_argument("--out", help="results folder (default: results/sweep-<name>); the same folder resumes")
    swp.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    swp.add_argument("--scheduler", help="address of a Dask scheduler (runs go to its workers)")
    swp.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")
    swp.add_argument("--report", action="store_true", help="also analyze and write report.html and report.pdf")
    rep = sub.add_parser("report", help="a self-contained HTML and a PDF report of a run, compare or sweep folder")
    rep.add_argument("folder", help="a results folder of run, compare or sweep (after analyze)")
    cal = sub.add_parser("calibrate", help="fit the shoppers (BG/NBD, Gamma-Gamma spend, Bass) to a transaction log",
                         description="Fit the shopper population to a platform's transaction log by maximum "
                         "likelihood and write calibration.json and calibrated.yaml (a scenario with the fitted "
                         "shoppers); with --calibration-end, check the forecast of the rest of the log.")
    cal.add_argument("transactions", help="CSV or Parquet, one row per transaction (customer_id, date, amount), "
                     "or CDNOW's text layout")
    cal.add_argument("--out", help="results folder (default: results/calibrate-<file>-<timestamp>); must be new or "
                     "empty")
    cal.add_argument("--overwrite", action="store_true", help="replace an earlier result folder given by --out")
    cal.add_argument("--calibration-end", metavar="DATE", help="fit on transactions up to this date (YYYY-MM-DD) and "
                     "forecast the rest of the log (the holdout)")
    cal.add_argument("--time-unit", choices=("week", "day"), default="week",
                     help="time unit of the fit (default week, as the published fits)")
    cal.add_argument("--customer-column", default="customer_id", help="column of the customer id (default customer_id)")
    cal.add_argument("--date-column", default="date", help="column of the date (default date)")
    cal.add_argument("--amount-column", default="amount", help="column of the amount (default amount)")
    cal.add_argument("--date-format", help="strptime format of the log's dates, e.g. %%d/%%m/%%Y (default: "
                     "YYYY-MM-DD, YYYYMMDD and YYYY-MM-DD HH:MM:SS are recognised)")
    cal.add_argument("--quiet", action="store_true", help="print nothing but errors")
    ana = sub.add_parser("analyze", help="sensitivity, Pareto settings and robustness of a finished sweep")
    ana.add_argument("folder", help="the sweep's results folder, e.g. results/sweep-smoke")
    ana.add_argument("--quiet", action="store_true", help="no summary on the terminal")
    std = sub.add_parser("studio", help="the what-if studio in the browser: scenarios side by side, paired intervals "
                         "as replications finish (docs/studio.md)")
    std.add_argument("--port", type=int, default=5006, help="port to listen on (default 5006; 0: any free port)")
    std.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    std.add_argument("--scheduler", help="address of a Dask scheduler (runs go to its workers)")
    std.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                     "only); any other needs a password")
    std.add_argument("--password-file", metavar="FILE", help="file holding the password a browser must give "
                     "(needed with --host; or set ECOMSIM_STUDIO_PASSWORD)")
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


@contextmanager
def _collector_paused():
    """Python's cycle collector off while the model's modules are imported: they allocate about a million
    objects, none of them garbage, that it would scan again and again (0.1 s of `run`'s start-up)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def cmd_run(args: argparse.Namespace) -> int:
    with _collector_paused():
        from sim.outputs import results_folder
        from sim.policies import enabled_policies
        from sim.runner import WriterOnDemand, simulate, write_run
        from sim.scenario_io import load_scenario, named_by_overrides
        from sim.tables import format_table

    scenario = named_by_overrides(load_scenario(args.scenario, overrides_from(args)), args.sets)
    out = results_folder(args.out, args.overwrite, scenario.name)
    show = not args.quiet and sys.stderr.isatty()
    with WriterOnDemand() as writer:  # started once the market is built: ready by the time the run ends
        record = simulate(scenario, progress=show, transactions=args.transactions, built=writer.start)
        summary = write_run(record, out, args.scenario, writer.executor)
    if not args.quiet:
        print(format_table(summary, scenario.simulation.currency,
                           f"{scenario.name} ({scenario.simulation.days} days, seed {scenario.seed})",
                           enabled_policies(scenario.policies)))
        if scenario.policy_timing():
            print(scenario.policy_timing())
        print(f"\nwrote {out}/ in {record.wall_seconds:.1f} s of simulation")
    _report(args, out)
    return 0


def _report(args: argparse.Namespace, folder) -> None:
    """--report: the folder's report.html and report.pdf (a sweep is analyzed first)."""
    if not getattr(args, "report", False):
        return
    if args.command == "sweep":
        from experiments.analysis import analyze
        from experiments.analysis import write as write_analysis
        write_analysis(analyze(folder), folder)
    _write_report(folder, show=not args.quiet)


def cmd_validate(args: argparse.Namespace) -> int:
    from experiments.validation import format_results, run_all

    results = run_all(args.quick, progress=sys.stderr.isatty())
    print(format_results(results))
    return 0 if all(r.passed for r in results) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from experiments.bench import format_bench, run_bench
    from experiments.library import scenario_file
    from sim.scenario_io import load_scenario

    if args.batch is not None:
        return _bench_batch(args)
    if args.rounds is not None:
        raise ScenarioError("--rounds", None, "goes with --batch (how many two-worker sweeps it times)")
    path = args.scenario or scenario_file("bench.yaml")
    scenario = load_scenario(path, overrides_from(args))
    if args.against_mesa:
        from experiments.bench import against_mesa, format_against_mesa
        print(format_against_mesa(against_mesa(path, scenario, overrides_from(args))))
        return 0
    print(format_bench(scenario.name, run_bench(scenario)))
    return 0


def _bench_batch(args: argparse.Namespace) -> int:
    """`bench --batch`: the sweep takes no scenario or overrides of its own (its spec names them)."""
    from experiments.bench import BATCH_ROUNDS, BENCH_SWEEP, batch_ratio, batch_workers, format_batch_ratio

    if args.scenario or overrides_from(args) or args.against_mesa:
        raise ScenarioError("--batch", None, "takes a sweep spec only (its base scenario and sets say what runs); "
                            "drop the scenario, --set, --seed, --days and --against-mesa")
    rounds = BATCH_ROUNDS if args.rounds is None else args.rounds
    if rounds < 1:
        raise ScenarioError("--rounds", None, f"is how many two-worker sweeps to time: a whole number of at least "
                            f"1, not {rounds}")
    spec = args.batch or str(BENCH_SWEEP)
    print(format_batch_ratio(batch_ratio(spec, batch_workers(rounds),
                                         say=lambda line: print(line, file=sys.stderr, flush=True))))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from experiments.comparison import run_comparison
    from sim.policies import enabled_policies
    from sim.tables import format_comparison, format_targets

    _check_workers(args)
    executor, client = _executor(args)
    show = not args.quiet and sys.stderr.isatty()

    def announce(runs: int) -> None:  # no terminal for a progress bar: say what is happening
        if not args.quiet and not show:
            print(f"running {_runs(runs)} on {_where(args, client)} (finished ones are kept) ...", file=sys.stderr)
    started = time.perf_counter()
    try:
        result = run_comparison(args.baseline, args.scenarios, args.replications, args.out, sets=overrides_from(args),
                                workers=args.workers or _default_workers(), executor=executor, progress=show,
                                overwrite=args.overwrite, announce=announce, robust=args.robust,
                                uncertainties=args.uncertainties, cache=not args.no_cache)
    finally:
        if client is not None:
            client.close()
    if not args.quiet:
        names = [s.name for s in result.scenarios]
        on = sorted({name for s in result.scenarios for name in enabled_policies(s.policies)})
        print(format_comparison(result.table, names, args.replications, result.scenarios[0].simulation.currency, on,
                                {s.name: set(enabled_policies(s.policies)) for s in result.scenarios}))
        for timing in dict.fromkeys(s.policy_timing() for s in result.scenarios if s.policy_timing()):
            print(timing)
        if len(result.targets):
            print("\n" + format_targets(result.targets))
        if result.verdicts is not None:
            from experiments.robust import format_verdicts
            print("\n" + format_verdicts(result.verdicts, args.robust, args.replications))
        reused = len(result.runs) - result.stats.runs
        cached = (f", {result.stats.cached} from the run cache" if result.stats.cached else "")
        robust = (f"; {args.robust * args.replications * len(result.scenarios)} more across the uncertainty set "
                  f"in robust/, {time.perf_counter() - started:.1f} s in all") if result.verdicts is not None else ""
        print(f"\nwrote {result.out}/ ({_runs(len(result.runs))}" + (f", {reused} kept from before" if reused else "")
              + cached + f", {_where(args, client)}, {result.stats.wall_seconds:.1f} s{robust})")
    _report(args, result.out)
    return 0


def _default_workers() -> int:
    from experiments.executors import default_workers
    return default_workers()


def _executor(args: argparse.Namespace):
    """(executor, client): a Dask cluster's executor with --scheduler, else (None, None): the local pool."""
    if not getattr(args, "scheduler", None):
        return None, None
    client = _dask_client(args.scheduler)
    return client.get_executor(), client


def _where(args: argparse.Namespace, client) -> str:
    if client:
        return f"the Dask cluster at {args.scheduler}"
    workers = args.workers or _default_workers()
    return f"{workers} worker" + ("s" if workers != 1 else "")


def _check_workers(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise ScenarioError("--workers", None, f"must be at least 1 (got {args.workers})")


def _dask_client(address: str):
    """A client of the Dask scheduler at `address` (unreachable: one line, exit 2)."""
    from distributed import Client
    try:
        return Client(address)  # waits distributed.comm.timeouts.connect (30 s unless configured)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ScenarioError("--scheduler", None, f"cannot reach a Dask scheduler at {address} ({exc}); start one "
                            "with `dask scheduler` and give the address it prints") from None


def cmd_sweep(args: argparse.Namespace) -> int:
    from experiments.batch import status_counts
    from experiments.sweeps import design_points, load_spec, sweep

    _check_workers(args)
    spec = load_spec(args.spec)  # checked before anything is written
    out = args.out or f"results/sweep-{spec.name}"
    executor, client = _executor(args)
    show = not args.quiet and sys.stderr.isatty()
    if not args.quiet and not show:  # no terminal for a progress bar: say what is happening
        print(f"sweep {spec.name}: {_runs(len(design_points(spec)) * spec.replications)} (finished ones are kept) "
              f"on {_where(args, client)} ...", file=sys.stderr)
    try:
        runs = sweep(spec, out, args.workers or _default_workers(), executor, progress=show)
    finally:
        if client is not None:
            client.close()
    counts = status_counts(runs)
    if not args.quiet:
        notes = []
        if counts["failed"]:
            notes.append(f"{counts['failed']} failed: see the status and error columns of runs.parquet")
        if counts["lost"]:
            notes.append(f"{counts['lost']} lost with their worker: run the same command again to retry them")
        points = _count(runs["point"].nunique() if len(runs) else 0, "point")
        print(f"wrote {out}/runs.parquet ({_runs(len(runs))} of {points}"
              + "".join(f"; {n}" for n in notes) + f"); next: python run.py analyze {out}")
    _report(args, out)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from experiments.analysis import analyze, format_summary, write

    result = analyze(args.folder)
    out = write(result, args.folder)
    if not args.quiet:
        print(format_summary(result))
        print(f"\nwrote {out}/ ({', '.join(sorted(result.tables))} as CSV, summary.txt, charts as PNG)")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from experiments.calibration import calibrate, format_summary, write
    from sim.outputs import results_folder

    out = results_folder(args.out, args.overwrite, f"calibrate-{Path(args.transactions).stem}")
    cal = calibrate(args.transactions, args.calibration_end, args.time_unit,
                    {"customer_id": args.customer_column, "date": args.date_column, "amount": args.amount_column},
                    args.date_format)
    write(cal, out)
    if not args.quiet:
        print(format_summary(cal))
        print(f"\nwrote {out}/ (calibration.json, calibrated.yaml and the first purchases it replays, tracking.csv"
              + (", conditional.csv" if cal.conditional is not None else "") + ", log_comparison.csv, charts)")
        if cal.observed is not None:
            import pandas as pd
            table = pd.read_csv(Path(out) / "log_comparison.csv").set_index("figure")["difference_percent"]
            print(f"calibrated.yaml at the log's scale ({cal.customers:,} customers, 5 runs) against the log: "
                  f"transactions {table['transactions']:+.1f}%, GMV {table['gmv']:+.1f}%, average order "
                  f"{table['average_order']:+.1f}%")
        print(f"next: python run.py run {out}/calibrated.yaml")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    _write_report(args.folder, show=True)
    return 0


def _write_report(folder, show: bool) -> None:
    """report.html and report.pdf of a results folder (`report`, and `--report` of the other commands)."""
    from experiments.report import build, write

    html, pdf = write(build(folder), folder)
    if show:
        print(f"wrote {html} and {pdf}")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _studio_password(args: argparse.Namespace) -> str | None:
    """The studio's password: from --password-file or $ECOMSIM_STUDIO_PASSWORD; required beyond loopback."""
    import os
    from pathlib import Path
    password = None
    if args.password_file:
        try:
            password = Path(args.password_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError("--password-file", None, f"cannot be read ({type(exc).__name__}: {exc})") from None
        if len(password) < 8:
            raise ScenarioError("--password-file", None, "the password must have at least 8 characters")
    elif os.environ.get("ECOMSIM_STUDIO_PASSWORD"):
        password = os.environ["ECOMSIM_STUDIO_PASSWORD"]
        if len(password) < 8:
            raise ScenarioError("ECOMSIM_STUDIO_PASSWORD", None, "the password must have at least 8 characters")
    if args.host not in LOOPBACK and not password:
        raise ScenarioError("--host", None, f"{args.host} lets other machines in: give a password with --password-file "
                            "FILE (or ECOMSIM_STUDIO_PASSWORD); without --host the studio listens on this machine only")
    return password


def cmd_studio(args: argparse.Namespace) -> int:
    """Serve the studio until Ctrl-C (the address is printed once it listens)."""
    _check_workers(args)
    if not 0 <= args.port <= 65535:
        raise ScenarioError("--port", None, f"must be 0 (any free port) to 65535 (got {args.port})")
    password = _studio_password(args)
    try:
        import panel  # noqa: F401
    except ImportError:
        raise ScenarioError("studio", None, "needs the panel package: pip install -c constraints.txt .") from None
    from studio.app import serve
    executor, client = _executor(args)
    host = "127.0.0.1" if args.host == "localhost" else args.host

    def ready(url: str) -> None:
        print(f"ecomsim studio at {url} (runs on {_where(args, client)}; Ctrl-C stops it)", flush=True)
    try:
        serve(args.port, host, args.workers or _default_workers(), executor, _where(args, client), password, ready)
    except OSError as exc:
        raise ScenarioError("--port", None, f"cannot listen on {host}:{args.port} ({exc.strerror or exc}); choose "
                            "another --port, or 0 for any free one") from None
    finally:
        if client is not None:
            client.close()
    return 0


def _runs(n: int) -> str:
    """'1 run', '20 runs'."""
    return _count(n, "run")


def _count(n: int, noun: str) -> str:
    """'1 point', '10 points' (nouns that take an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


COMMANDS = {"run": cmd_run, "compare": cmd_compare, "bench": cmd_bench, "validate": cmd_validate,
            "sweep": cmd_sweep, "analyze": cmd_analyze, "report": cmd_report, "calibrate": cmd_calibrate,
            "studio": cmd_studio}


def main(argv: list[str] | None = None) -> int:
    """The command line (argv None: the program's own arguments, and the program ends when main returns)."""
    if argv is None:
        # pydantic looks for plugins in every installed package's entry points when the scenario's schema is
        # built (0.03-0.05 s of each command's start); ecomsim uses none. PYDANTIC_DISABLE_PLUGINS set to
        # anything (even empty) before the command is kept.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    code = _main(argv)
    if argv is None:
        # Python's last cycle collection at exit would scan every object of every imported module (0.15 s of
        # each command); the results are written and nothing is left to finalise, so the objects are frozen
        gc.freeze()
    return code


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    except Interrupted as exc:  # a compare or sweep: its finished runs are kept
        print(f"{exc}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`run.py studio`: the what-if studio, a Panel app (docs/studio.md).

A baseline column and up to three what-if columns, each a scenario file and the levers changed from
it (widgets built from the scenario schema, studio/levers.py); settings every column shares (shoppers,
horizon, warm-up, replications, seed); Run sends the comparison's runs to the batch engine in the
background (studio/session.py) and the page shows, as replications finish, the paired change of each
headline KPI with its 95% interval, the targets and a fan chart (studio/views.py). Save writes the
same folder `run.py compare` writes, and its report.
"""

from __future__ import annotations

import datetime as dt
import html
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import panel as pn

from sim.errors import ScenarioError
from studio.levers import (
    ColumnSetting,
    Lever,
    absent_policies,
    as_text,
    levers_for,
    library,
    policy_section,
    value_at,
)
from studio.session import RunSession, Snapshot
from studio.views import changes_table, fan_chart, finding, targets_table

MAX_WHAT_IFS = 3
POLL_MS = 100
DEFAULTS = {"shoppers": 20_000, "days": 365, "replications": 5}
CSS = """
.studio-changes, .studio-targets {border-collapse: collapse; font-size: 13px; margin: 4px 0 12px 0}
.studio-changes th, .studio-changes td, .studio-targets th, .studio-targets td {
  border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top}
.studio-changes thead th {border-bottom: 2px solid #888}
.studio-ci, .studio-n {color: #555; font-size: 12px}
.studio-reading {font-size: 12px}
.studio-verdict {font-size: 12px; color: #333}
.studio-yaml {font-size: 11.5px; background: #f6f6f6; padding: 6px; white-space: pre-wrap; max-height: 320px;
  overflow: auto}
"""


def _html(text: str = "", **kwargs: Any) -> pn.pane.HTML:
    """An HTML pane with the studio's styles (a pane's content lives in its own shadow DOM)."""
    return pn.pane.HTML(text, stylesheets=[CSS], **kwargs)


def _slug(path: str) -> str:
    return path.replace(".", "-")


class Column:
    """One column: where it starts from, its lever widgets, and what it stands for (or what is wrong)."""

    def __init__(self, index: int, start: str, studio: Studio) -> None:
        self.index, self.studio = index, studio  # index: a stable id (CSS classes), never reused
        names = list(studio.library)
        self.start = pn.widgets.Select(label="starts from", options=names, value=start, width=260,
                                       css_classes=[f"start-{index}"])
        self.file = pn.widgets.TextInput(label="or a scenario file (YAML path)", placeholder="e.g. my/scenario.yaml",
                                         width=260, css_classes=[f"file-{index}"])
        self.message = pn.pane.Alert("", alert_type="danger", visible=False, width=255,
                                     css_classes=[f"error-{index}"])
        self.progress = pn.indicators.Progress(value=0, max=1, width=260, bar_color="primary", visible=False,
                                               css_classes=[f"progress-{index}"])
        self.progress_text = _html("", width=260, css_classes=[f"progress-text-{index}"])
        self.yaml = _html("", width=270, css_classes=[f"yaml-{index}"])
        self.command = _html("", width=270, css_classes=[f"command-{index}"])
        self.heading = _html("", width=170)
        self.levers: dict[str, tuple[Lever, Any, Any]] = {}  # path -> (lever, widget, the file's value)
        self.lever_box = pn.Column(width=280)
        self.remove = pn.widgets.Button(label="Remove", color="light", width=80, visible=index > 0,
                                        css_classes=[f"remove-{index}"])
        self.start.param.watch(lambda _: self.rebuild(), "value")
        self.file.param.watch(lambda _: self.rebuild(), "value")
        self.setting: ColumnSetting | None = None
        self.scenario = None
        self.added: dict[str, dict] = {}  # policies.<name> -> the section a policy the file lacks is added with
        self.panel = pn.Column(
            pn.Row(self.heading, self.remove),
            self.start, self.file, self.message, self.progress, self.progress_text, self.lever_box,
            pn.Card(self.yaml, self.command, title="YAML and command", collapsed=True, width=280),
            width=295, styles={"border-right": "1px solid #ddd", "padding-right": "6px"})
        self.rebuild()

    @property
    def title(self) -> str:
        """'Baseline' or 'What-if N', by the column's place on the page."""
        place = self.studio.columns.index(self) if self in self.studio.columns else len(self.studio.columns)
        return "Baseline" if place == 0 else f"What-if {place}"

    def source(self) -> Path | None:
        chosen = self.file.value.strip()
        return Path(chosen).expanduser() if chosen else self.studio.library.get(self.start.value)

    def rebuild(self, keep: bool = False) -> None:
        """New lever widgets for the file the column starts from and the policies added to it (`keep`: the
        levers changed so far keep their values; otherwise the column starts afresh from the file)."""
        from sim.scenario_io import load_scenario
        kept = self.changes() if keep else {}
        if not keep:
            self.added = {}
        self.levers = {}
        source = self.source()
        try:
            base = load_scenario(source, [f"{p}={as_text(v)}" for p, v in self.added.items()])
        except ScenarioError as exc:
            self.lever_box.objects = []
            self._invalid(str(exc))
            return
        groups: dict[str, list] = {}
        for lever in levers_for(base, self.studio.uncertainties):
            value = value_at(base, lever.path)
            made = _widget(lever, kept.get(lever.path, value), self.index)
            widget, shown = (made[0], pn.Row(*made)) if isinstance(made, tuple) else (made, made)
            widget.param.watch(lambda _: self.refresh(), "value")
            self.levers[lever.path] = (lever, widget, value)
            groups.setdefault(lever.group, []).append(shown)
        cards = [pn.Card(*widgets, title=group, collapsed=group == "Market assumptions", width=275,
                         css_classes=[f"group-{self.index}"]) for group, widgets in groups.items()]
        self.lever_box.objects = cards + self._add_policy_card(base)
        self.refresh()

    def _add_policy_card(self, base) -> list:
        """Switches for the policies the starting file lacks: on, a policy comes with the settings of its
        library scenario, and its levers appear."""
        def switch(name: str, label: str, on: bool):
            box = pn.widgets.Checkbox(label=label, value=on, width=255, css_classes=[f"add-{self.index}-{name}"])
            box.param.watch(lambda event: self._add_policy(name, event.new), "value")
            return box
        switches = [switch(name, f"{title} (as in {source})", False) for name, title, source in absent_policies(base)]
        switches += [switch(name, f"{name.replace('_', ' ')} added (uncheck to remove)", True)
                     for name in (path.split(".")[1] for path in self.added)]
        return [pn.Card(*switches, title="Add a policy", collapsed=True, width=275,
                        css_classes=[f"group-{self.index}"])] if switches else []

    def _add_policy(self, name: str, on: bool) -> None:
        path = f"policies.{name}"
        if on:
            self.added[path] = policy_section(name)
        else:
            self.added.pop(path, None)
        self.rebuild(keep=True)

    def changes(self) -> dict[str, Any]:
        """The levers whose value differs from the file's, as typed (text levers as YAML values)."""
        import yaml
        out = {}
        for path, (lever, widget, original) in self.levers.items():
            value = widget.value
            if lever.kind == "text":
                try:
                    value = yaml.safe_load(value) if str(value).strip() else None
                except yaml.YAMLError:
                    pass  # the schema rejects it with its own message
            if value != original:
                out[path] = value
        return {**self.added, **out}  # a policy added whole first, then what was changed in it

    def refresh(self) -> None:
        """Check the column's scenario with the schema; show its YAML and command, or the schema's message."""
        source = self.source()
        if source is None:
            return
        self.setting = ColumnSetting(source, self.changes(), self.studio.common_sets())
        try:
            self.scenario = self.setting.scenario()
        except ScenarioError as exc:
            self._invalid(str(exc))
            return
        self.message.visible = False
        self.message.object = ""
        self.yaml.object = f"<pre class='studio-yaml'>{html.escape(self.setting.yaml(self.scenario))}</pre>"
        self.command.object = (f"<pre class='studio-yaml'>{html.escape(self.setting.command())}</pre><p "
                               "style='font-size:11.5px;color:#555'>One run of this column, with the seed itself; "
                               "the replications use seeds spawned from it, as compare's do (a saved comparison's "
                               "runs.csv lists them; run --seed S reruns one).</p>")
        self.studio.check_names()

    def _invalid(self, message: str) -> None:
        self.scenario = None
        self.message.object = message
        self.message.visible = True
        self.yaml.object = self.command.object = ""
        self.studio.check_names()


def _distinct_names(scenarios: list) -> list:
    """The columns' scenarios with distinct names (a comparison needs them): a name two different columns share
    (e.g. 'value-8' of two campaigns) gets the column's place appended."""
    names = [s.name for s in scenarios]
    return [s if names.count(s.name) == 1 or names.index(s.name) == i else
            s.model_copy(update={"name": f"{s.name}--column{i}"}) for i, s in enumerate(scenarios)]


def _widget(lever: Lever, value: Any, column: int):
    """The widget of a lever: a checkbox, a number box (no clamping: the schema judges the value and its
    message is shown) or a text box for values of several kinds (e.g. a share or 'auto')."""
    common = {"label": lever.label, "description": lever.help, "width": 255,
              "css_classes": [f"lever-{column}-{_slug(lever.path)}"]}
    if lever.kind == "bool":  # a checkbox has no help icon of its own: one beside it
        help_text = common.pop("description")
        common["width"] = 225
        return pn.widgets.Checkbox(value=bool(value), **common), pn.widgets.TooltipIcon(value=help_text, width=20)
    if lever.kind == "int":
        return pn.widgets.IntInput(value=value, **common)
    if lever.kind == "float":
        return pn.widgets.FloatInput(value=value, format="0[.][000000]", **common)
    return pn.widgets.TextInput(value=as_text(value), **common)


class Studio:
    """The page of one browser session."""

    def __init__(self, workers: int, executor: Executor | None = None, where: str = "") -> None:
        from experiments.robust import load_uncertainties
        self.workers, self.executor = workers, executor
        self.where = where or f"{workers} worker process{'es' if workers > 1 else ''} on this machine"
        from experiments.cache import default_cache
        self.library = library()
        self.cache_on = default_cache() is not None
        self.uncertainties = list(load_uncertainties(None))
        self.session: RunSession | None = None
        self.shown_state: tuple[int, bool] | None = None
        self.last_draw = self.last_status = 0.0
        self.drawing: Future | None = None
        self.charting: Future | None = None
        self.drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecomsim-studio-draw")
        self.saving: threading.Thread | None = None
        base_seed = 42
        self.shoppers = pn.widgets.IntInput(label="shoppers (sample size)", value=DEFAULTS["shoppers"], width=150,
                                            description="shoppers.count: the shoppers simulated (a sample of the "
                                            "platform's shoppers.represents)", css_classes=["common-shoppers"])
        self.days = pn.widgets.IntInput(label="horizon [days]", value=DEFAULTS["days"], width=120,
                                        description="simulation.days: the measured period", css_classes=["common-days"])
        self.warmup = pn.widgets.IntInput(label="warm-up [days]", value=None, placeholder="the scenario's", width=120,
                                          description="simulation.warmup_days: simulated before the measured period, "
                                          "not recorded (empty: the scenario's, 180 in the baseline)",
                                          css_classes=["common-warmup"])
        self.replications = pn.widgets.IntInput(label="replications", value=DEFAULTS["replications"], width=110,
                                                description="runs per column, replication r with the same seed in "
                                                "every column (common random numbers)",
                                                css_classes=["common-replications"])
        self.robust = pn.widgets.IntInput(label="robust points", value=0, width=110, css_classes=["common-robust"],
                                          description="then judge each what-if across N Latin-hypercube points of "
                                          "the uncertainty set (scenarios/uncertainties.yaml): N x replications x "
                                          "columns more runs; robust / depends on / no clear effect (0: off)")
        self.seed = pn.widgets.IntInput(label="seed", value=base_seed, width=100, css_classes=["common-seed"],
                                        description="the seed the replications' seeds are spawned from")
        self.run_button = pn.widgets.Button(label="Run", color="primary", width=90, css_classes=["run"])
        self.cancel_button = pn.widgets.Button(label="Cancel", color="warning", width=90, disabled=True,
                                               css_classes=["cancel"])
        self.save_folder = pn.widgets.TextInput(label="save to folder", width=260, css_classes=["save-folder"],
                                                placeholder="results/studio-<date>-<time>")
        self.save_button = pn.widgets.Button(label="Save", color="success", width=90, disabled=True,
                                             css_classes=["save"])
        self.add_button = pn.widgets.Button(label="+ what-if", color="light", width=100, css_classes=["add"])
        self.status = _html("Set up the columns and press Run.", css_classes=["status"],
                                   sizing_mode="stretch_width")
        self.changes = _html("", css_classes=["changes"], sizing_mode="stretch_width")
        self.targets = _html("", css_classes=["targets"], sizing_mode="stretch_width")
        self.chart = pn.pane.PNG(None, width=1000, css_classes=["fan-chart"], visible=False)
        self.compare_command = _html("", css_classes=["compare-command"], sizing_mode="stretch_width")
        self.stale = _html("<b style='color:#b2182b'>The settings have changed since this Run: the results below are "
                           "for the columns as they were run. Press Run for the new settings.</b>",
                           css_classes=["stale"], visible=False, sizing_mode="stretch_width")
        self.columns: list[Column] = []
        self.created = 0
        self.result_status = ""  # the status line of the last Run, shown again once nothing blocks a Run
        self.columns_row = pn.Row()
        for w in (self.shoppers, self.days, self.warmup, self.seed):
            w.param.watch(lambda _: self.refresh_all(), "value")
        self.replications.param.watch(lambda _: self.check_names(), "value")
        self.robust.param.watch(lambda _: self.check_names(), "value")
        self.add_button.on_click(lambda _: self.add_column())
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.save_button.on_click(lambda _: self.save())
        self.add_column("baseline")
        self.add_column("baseline")
        self.poller = None

    # --- columns -------------------------------------------------------------------------------

    def common_sets(self) -> list[str]:
        """The settings every column shares, as `--set` overrides."""
        sets = [f"shoppers.count={self.shoppers.value}", f"simulation.days={self.days.value}",
                f"seed={self.seed.value}"]
        if self.warmup.value is not None:
            sets.append(f"simulation.warmup_days={self.warmup.value}")
        return [s.replace("=None", "=null") for s in sets]

    def add_column(self, start: str = "baseline") -> None:
        if len(self.columns) > MAX_WHAT_IFS or self.running():
            return
        self.created += 1
        column = Column(self.created - 1, start, self)
        column.remove.on_click(lambda _, c=column: self.remove_column(c))
        self.columns.append(column)
        self._layout_columns()
        self.check_names()

    def remove_column(self, column: Column) -> None:
        if column.index == 0 or column not in self.columns or self.running():
            return
        self.columns.remove(column)
        self._layout_columns()
        self.check_names()

    def _layout_columns(self) -> None:
        for column in self.columns:
            column.heading.object = f"<h3 style='margin:4px 0'>{column.title}</h3>"
        self.columns_row.objects = [c.panel for c in self.columns]
        self._lock_columns()

    def _lock_columns(self) -> None:
        """Columns are added and removed only between runs (the progress bars belong to the columns run)."""
        running = self.running()
        self.add_button.disabled = len(self.columns) > MAX_WHAT_IFS or running
        for column in self.columns[1:]:
            column.remove.disabled = running

    def running(self) -> bool:
        return self.session is not None and self.session.status == "running"

    def refresh_all(self) -> None:
        for column in self.columns:
            column.refresh()

    def problems(self) -> list[str]:
        """Why Run cannot start: a column the schema rejects, two columns that are the same scenario, a bad
        number of replications."""
        out = [f"{c.title}: {c.message.object}" for c in self.columns if c.scenario is None]
        from experiments.cache import UNUSED
        markets = [c.scenario.model_dump(exclude=UNUSED) if c.scenario is not None else None for c in self.columns]
        for i, c in enumerate(self.columns[1:], start=1):
            if markets[i] is not None and markets[i] in markets[:i]:
                out.append(f"{c.title} is the same scenario as {self.columns[markets.index(markets[i])].title} "
                           f"({c.scenario.name}): change a lever or start it from another scenario")
                break
        reps = self.replications.value
        if reps is None or not 1 <= reps <= 1000:
            out.append(f"replications: must be 1 to 1000 (got {reps})")
        if self.robust.value is None or not 0 <= self.robust.value <= 1000:
            out.append(f"robust points: must be 0 (off) to 1000 (got {self.robust.value})")
        if len(self.columns) < 2:
            out.append("add a what-if column to compare with the baseline")
        return out

    def check_names(self) -> None:
        """Run is possible only when every column is a valid, distinct scenario."""
        if not hasattr(self, "run_button") or len(getattr(self, "columns", [])) < 1:
            return
        problems = self.problems()
        running = self.running()
        self.run_button.disabled = bool(problems) or running
        if problems and not running:
            self.status.object = ("<span style='color:#b2182b'>Nothing can run until this is fixed: "
                                  f"{html.escape(problems[0])}</span>")
        elif not running:
            self.status.object = self.result_status or "Ready: press Run."
        if not problems:
            self._show_compare_command()
        self._mark_stale()

    def _mark_stale(self) -> None:
        """Say so when the results shown are not those of the columns as they are now."""
        if not hasattr(self, "stale") or self.session is None:
            return
        now = [c.scenario.model_dump() if c.scenario is not None else None for c in self.columns]
        ran = [s.model_dump() for s in self.session.scenarios]
        changed = now != ran or self.replications.value != self.session.replications or \
            self.robust.value != self.session.robust
        self.stale.visible = changed
        for column in self.columns:
            column.progress.visible = column.progress.visible and not changed

    def _show_compare_command(self) -> None:
        names = [c.scenario.name for c in self.columns]
        files = " ".join(f"COLUMNS/{n}.yaml" for n in names)
        self.compare_command.object = (
            "<details><summary>The same comparison from the command line</summary><pre class='studio-yaml'>"
            f"# save each column's YAML (its 'YAML and command' panel) as COLUMNS/&lt;name&gt;.yaml, then\n"
            f"python run.py compare {html.escape(files)} --replications {self.replications.value}"
            + (f" --robust {self.robust.value}" if self.robust.value else "") + "</pre></details>")

    # --- running -------------------------------------------------------------------------------

    def run(self) -> None:
        problems = self.problems()
        if problems:
            self.status.object = f"<span style='color:#b2182b'>Nothing ran: {html.escape(problems[0])}</span>"
            return
        if self.running():
            return
        scenarios = _distinct_names([c.scenario for c in self.columns])
        try:
            doc = pn.state.curdoc
            notify = (lambda: doc.add_next_tick_callback(self.poll)) if doc is not None else None
            self.session = RunSession(scenarios, int(self.replications.value), workers=self.workers,
                                      executor=self.executor, robust=int(self.robust.value), notify=notify).start()
        except Exception as exc:  # noqa: BLE001 - e.g. a scenario's input file gone since it was checked
            self.status.object = (f"<span style='color:#b2182b' class='studio-failed'>Nothing ran: "
                                  f"{html.escape(f'{type(exc).__name__}: {exc}')}</span>")
            return
        self.result_status = ""
        self._lock_columns()
        self.shown_state = None
        self.stale.visible = False
        self.run_button.disabled = True
        self.cancel_button.disabled = False
        self.save_button.disabled = True
        for column in self.columns:
            column.progress.max = int(self.replications.value)
            column.progress.value = 0
            column.progress.visible = True
        self.status.object = f"Running {len(scenarios) * self.replications.value} runs on {self.where} ..."
        if self.poller is None:
            self.poller = pn.state.add_periodic_callback(self.poll, period=POLL_MS)

    def cancel(self) -> None:
        if self.session is not None:
            self.session.cancel()
            self.cancel_button.disabled = True
            self.status.object = "Cancelling: stopping the workers ..."

    def close(self) -> None:
        """The browser tab is gone: its runs stop (what finished stays in the run cache)."""
        if self.session is not None:
            self.session.cancel()
        if self.poller is not None:
            self.poller.stop()
            self.poller = None
        self.drawer.shutdown(wait=False, cancel_futures=True)

    def poll(self) -> None:
        """Every POLL_MS: new results are drawn off the page's thread (the tables, then the chart) at most once a
        second while runs go on and at once when they end, and shown when ready."""
        session = self.session
        if session is None:
            return
        if self.drawing is not None and self.drawing.done():
            drawing, self.drawing = self.drawing, None
            try:
                drawn = drawing.result()
            except Exception as exc:  # noqa: BLE001 - a drawing that fails must not leave the page stuck
                drawn = None
                self.changes.object = (f"<p style='color:#b2182b'>The results could not be drawn "
                                       f"({html.escape(f'{type(exc).__name__}: {exc}')}).</p>")
            if drawn is not None and drawn[0] is session:  # a drawing of an earlier Run is dropped
                self._show(drawn[1:])
        if self.charting is not None and self.charting.done():
            charting, self.charting = self.charting, None
            try:
                png = charting.result()
            except Exception:  # noqa: BLE001 - the tables stand without the chart
                png = None
            if png is not None and charting.session is session:
                self.chart.object = png
                self.chart.visible = True
        ended = session.status != "running"
        if not ended and time.perf_counter() - self.last_status >= 0.5:  # the clock ticks between results
            self.last_status = time.perf_counter()
            self.status.object = self._running_text(session)
        state = (len(session.records), ended)
        busy = self.drawing is not None or self.charting is not None
        if not busy and state != self.shown_state and (ended or time.perf_counter() - self.last_draw >= 1.0):
            self.shown_state, self.last_draw = state, time.perf_counter()
            self.drawing = self.drawer.submit(self._draw, session)
            self.charting = self.drawer.submit(self._chart, session, self.drawing)  # after it: one drawing thread
            self.charting.session = session
            doc = pn.state.curdoc
            if doc is not None:  # shown as soon as drawn, not at the next poll
                self.drawing.add_done_callback(lambda _: doc.add_next_tick_callback(self.poll))
        elif ended and not busy and state == self.shown_state and self.poller is not None:
            self.poller.stop()
            self.poller = None

    def _running_text(self, session: RunSession) -> str:
        runs, total = len(session.records), len(session.jobs)
        first = (f"; first interval after {session.first_interval:.1f} s" if session.first_interval is not None else "")
        if session.robust_total:
            first += (f"; robustness runs: {session.robust_done} of {session.robust_total} "
                      f"({session.robust} points of the uncertainty set)")
        return (f"Running on {html.escape(self.where)}: {runs} of {total} runs finished, "
                f"{time.perf_counter() - session.started:.0f} s{first}. Cancel stops the workers; finished runs are "
                "kept in the run cache.")

    def _draw(self, session: RunSession) -> tuple[RunSession, Snapshot, str, str]:
        """The snapshot and its tables as HTML (in the drawing thread: the page stays responsive)."""
        from sim.policies import enabled_policies
        snap = session.snapshot()
        policies = {s.name: set(enabled_policies(s.policies)) for s in session.scenarios}
        return (session, snap, changes_table(snap.paired, session.names, policies, snap.verdicts, session.robust),
                targets_table(snap.targets))

    def _chart(self, session: RunSession, drawing: Future) -> bytes | None:
        snap = drawing.result()[1]
        base = session.scenarios[0]
        context = (f"{base.shoppers.count:,} shoppers, {base.simulation.days} days from "
                   f"{base.simulation.start_date}; seed {base.seed}.")
        return fan_chart(snap.series, str(base.simulation.start_date), base.simulation.currency, context,
                         finding(snap.paired, session.names))

    def _show(self, drawn: tuple[Snapshot, str, str]) -> None:
        """A drawn snapshot on the page: progress, tables, the status line (kept for after a blocked setting)."""
        snap, changes, targets = drawn
        for column, done in zip(self.columns, snap.done, strict=False):
            column.progress.value = min(done, column.progress.max)
            column.progress_text.object = f"{done} of {snap.total} replications"
        self.changes.object = changes
        self.targets.object = targets
        first = (f"; first interval after {snap.first_interval_seconds:.1f} s"
                 if snap.first_interval_seconds is not None else "")
        cached = f", {snap.cached} from the run cache" if snap.cached else ""
        runs = sum(snap.done)
        few = (" <b style='color:#b2182b'>Fewer than 5 replications: intervals from so few runs are wide and "
               "their width itself is uncertain; use 5 or more before deciding.</b>" if snap.total < 5 else "")
        if snap.status == "running":
            self.status.object = self._running_text(session=self.session)
            return
        self.cancel_button.disabled = True
        kept = ("they are kept in the run cache, so Run again continues from them" if self.cache_on
                else "the run cache is off (ECOMSIM_CACHE=off), so Run again computes them again")
        if snap.status == "finished":
            robust = (f", then {snap.robust_total} robustness runs ({self.session.robust} points of the uncertainty "
                      "set)" if snap.robust_total else "")
            self.result_status = (f"<span class='studio-finished'>Finished: {runs} runs{cached}{robust} in "
                                  f"{snap.seconds:.1f} s{first}.</span>{few}")
            self.save_button.disabled = False
        elif snap.status == "cancelled":
            self.result_status = (f"<span class='studio-cancelled'>Cancelled after {snap.seconds:.1f} s: {runs} runs "
                                  f"had finished; {kept}.</span>")
        else:
            self.result_status = (f"<span style='color:#b2182b' class='studio-failed'>Failed: "
                                  f"{html.escape(snap.error)}</span>")
        self.status.object = self.result_status
        self._lock_columns()
        self.check_names()

    # --- saving --------------------------------------------------------------------------------

    def save(self) -> None:
        """The comparison as `run.py compare` writes it (its runs come from the run cache) plus the report."""
        session = self.session
        if session is None or session.status != "finished" or (self.saving and self.saving.is_alive()):
            return
        folder = Path(self.save_folder.value.strip() or f"results/studio-{dt.datetime.now():%Y%m%d-%H%M%S}")
        self.save_button.disabled = True
        self.status.object = f"Saving the comparison and its report to {html.escape(str(folder))}/ ..."
        done: dict[str, str] = {}

        def work() -> None:
            from experiments import report
            from experiments.comparison import run_comparison
            try:
                result = run_comparison(session.scenarios[0], session.scenarios[1:], session.replications, folder,
                                        workers=self.workers, executor=self.executor, notes=False,
                                        robust=session.robust)
                html_path, pdf_path = report.write(report.build(result.out), result.out)
                done["ok"] = (f"Saved {result.out}/: comparison.csv, runs.csv, charts/, scenarios/ and the report "
                              f"({html_path.name}, {pdf_path.name}).")
            except ScenarioError as exc:
                done["error"] = str(exc)
            except Exception as exc:  # noqa: BLE001 - shown on the page
                done["error"] = f"{type(exc).__name__}: {exc}"

        def shown() -> None:
            if self.saving is not None and self.saving.is_alive():
                return
            callback.stop()
            self.save_button.disabled = False
            if "ok" in done:
                self.status.object = f"<span class='studio-saved'>{html.escape(done['ok'])}</span>"
            else:
                self.status.object = (f"<span style='color:#b2182b' class='studio-failed'>Not saved: "
                                      f"{html.escape(done.get('error', 'unknown error'))}</span>")
        self.saving = threading.Thread(target=work, name="ecomsim-studio-save", daemon=True)
        self.saving.start()
        callback = pn.state.add_periodic_callback(shown, period=POLL_MS)

    # --- the page ------------------------------------------------------------------------------

    def view(self) -> pn.viewable.Viewable:
        settings = pn.Row(self.shoppers, self.days, self.warmup, self.replications, self.robust, self.seed,
                          pn.Column(pn.Spacer(height=18), pn.Row(self.run_button, self.cancel_button)),
                          self.save_folder, pn.Column(pn.Spacer(height=18), self.save_button))
        intro = _html(
            "<h2 style='margin:6px 0 2px 0'>ecomsim studio</h2><p style='margin:0 0 6px 0;color:#555'>A baseline and "
            "up to three what-ifs. Replication r runs with the same seed in every column, so each change below is "
            "paired, with its 95% interval, recomputed as replications finish. Runs go to "
            f"{html.escape(self.where)}; "
            + ("finished runs are kept in the run cache, so nothing is computed twice." if self.cache_on else
               "the run cache is off (ECOMSIM_CACHE=off): every Run computes its runs.")
            + "</p>", sizing_mode="stretch_width")
        return pn.Column(
            intro, settings, self.status,
            pn.Row(self.columns_row, pn.Column(pn.Spacer(height=6), self.add_button)),
            self.compare_command,
            _html("<h3 style='margin:10px 0 2px 0'>Results</h3>"), self.stale, self.changes, self.targets, self.chart,
            sizing_mode="stretch_width", styles={"padding": "0 12px"})


def make_page(workers: int, executor: Executor | None = None, where: str = ""):
    """A function Panel calls for each browser session: a new Studio's page."""
    def page():
        studio = Studio(workers, executor, where)
        pn.state.on_session_destroyed(lambda _: studio.close())
        return studio.view()
    return page


def serve(port: int, host: str, workers: int, executor: Executor | None = None, where: str = "",
          password: str | None = None, ready=None) -> None:
    """Serve the studio until Ctrl-C; beyond loopback only with a password (Panel's basic auth). `ready(url)` is
    called once it listens (port 0: a free port)."""
    import secrets

    from panel.io.server import get_server
    kwargs: dict[str, Any] = {}
    if password:
        kwargs.update(basic_auth=password, cookie_secret=secrets.token_hex(32))
    if port == 0:  # a free port, known before the server starts (its allowed origins name it)
        import socket
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    origins = ["*"] if host in ("0.0.0.0", "::") else [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    server = get_server({"/": make_page(workers, executor, where)}, port=port, address=host,
                        websocket_origin=origins, show=False, title="ecomsim studio", start=False, **kwargs)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    if ready is not None:
        ready(f"http://{shown}:{server.port}/")
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()

"""The studio's parts without a browser: levers from the schema, what a column stands for, a session's results."""

from __future__ import annotations

import shlex

import numpy as np
import pandas as pd
import pytest

from conftest import BASELINE, ROOT
from sim.errors import ScenarioError
from sim.scenario_io import field_info, load_scenario, named_by_overrides
from studio.levers import ColumnSetting, levers_for, library, value_at

TINY = ["shoppers.count=1500", "simulation.days=45", "simulation.warmup_days=20", "seed=42"]


@pytest.fixture(scope="module")
def uncertainties():
    from experiments.robust import load_uncertainties
    return list(load_uncertainties(None))


def test_levers_are_read_from_the_schema_with_units_bounds_and_help(uncertainties):
    bench = load_scenario(ROOT / "scenarios" / "bench.yaml")
    levers = {lever.path: lever for lever in levers_for(bench, uncertainties)}
    take = levers["platform.take_rate"]
    assert take.kind == "float" and take.label == "take rate (share, 0 to < 1)"
    assert take.help == field_info("platform.take_rate")[0].description
    fee = levers["policies.loyalty.membership.fee_per_month"]
    assert "currency/month" in fee.label and ">= 0" in fee.label
    assert levers["policies.subsidy.campaigns.1.value"].label.startswith("value (campaign 2)")
    assert levers["policies.green_logistics.ev_share"].kind == "text" and "'auto'" in \
        levers["policies.green_logistics.ev_share"].label
    for name in ("subsidy", "referral", "loyalty", "assortment", "green_logistics"):  # each policy can be switched
        assert levers[f"policies.{name}.enabled"].kind == "bool"
    share = levers["rivals.platform_share"]  # an uncertainty: its plausible range and why
    assert share.uncertain and "plausible 0.3 to 0.9" in share.help
    baseline = {lever.path for lever in levers_for(load_scenario(BASELINE), uncertainties)}
    assert not any(p.startswith("policies.") for p in baseline)  # no policy: no policy levers
    assert value_at(bench, "policies.subsidy.campaigns.1.value") == 15
    assert list(library())[0] == "baseline" and "uncertainties" not in library()


def test_a_column_s_yaml_and_command_stand_for_the_scenario_it_runs(tmp_path):
    changes = {"policies.subsidy.campaigns.0.value": 8.0, "platform.take_rate": 0.15}
    column = ColumnSetting(library()["subsidy_newcomers"], changes, TINY)
    scenario = column.scenario()
    assert scenario.name == "subsidy_newcomers--value-8--take_rate-0.15"
    assert scenario.policies.subsidy.campaigns[0].value == 8 and scenario.shoppers.count == 1500
    written = tmp_path / "column.yaml"
    written.write_text(column.yaml(scenario), encoding="utf-8")
    assert load_scenario(written).model_dump() == scenario.model_dump()  # the YAML is the same scenario
    words = shlex.split(column.command())
    assert words[:3] == ["python", "run.py", "run"]
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    from_cli = named_by_overrides(load_scenario(ROOT / words[3], sets), column.sets)
    assert from_cli.model_dump() == scenario.model_dump()


def test_an_invalid_lever_value_gives_the_schema_s_own_message():
    column = ColumnSetting(BASELINE, {"platform.take_rate": 1.5}, TINY)
    with pytest.raises(ScenarioError) as caught:
        column.scenario()
    assert caught.value.field == "platform.take_rate" and "less than 1" in caught.value.message
    with pytest.raises(ScenarioError, match="ev_share"):
        ColumnSetting(library()["green_logistics"], {"policies.green_logistics.ev_share": "sometimes"},
                      TINY).scenario()


def test_a_session_shows_the_comparison_s_paired_changes_and_comes_back_from_the_cache(tmp_path, monkeypatch):
    from experiments.comparison import run_comparison
    from studio.session import RunSession
    from studio.views import changes_table, fan_chart
    monkeypatch.setenv("ECOMSIM_CACHE", str(tmp_path / "cache"))
    base = ColumnSetting(BASELINE, {}, TINY).scenario()
    whatif = ColumnSetting(BASELINE, {"platform.take_rate": 0.16}, TINY).scenario()
    session = RunSession([base, whatif], 3).start()
    assert session.wait(120)
    snap = session.snapshot()
    assert snap.status == "finished" and snap.done == [3, 3] and snap.cached == 0
    assert snap.first_interval_seconds is not None and len(snap.series[whatif.name]) == 3
    reference = run_comparison(base, [whatif], 3, tmp_path / "cmp", cache=False).table
    reference = reference[reference["scenario"] == whatif.name].reset_index(drop=True)
    pd.testing.assert_frame_equal(snap.paired.reset_index(drop=True), reference)
    page = changes_table(snap.paired, session.names, {})
    assert "data-kpi='gmv'" in page and "data-kpi='coupons_redeemed'" not in page  # no policy, no policy rows
    assert fan_chart(snap.series, "2025-01-01", "USD", "test")[:8] == b"\x89PNG\r\n\x1a\n"
    again = RunSession([base, whatif], 3).start()
    assert again.wait(60) and again.snapshot().cached == 6


def test_a_cancelled_session_stops_and_says_so(tmp_path, monkeypatch):
    from studio.session import RunSession
    monkeypatch.setenv("ECOMSIM_CACHE", "off")
    base = ColumnSetting(BASELINE, {}, TINY).scenario()
    whatif = ColumnSetting(BASELINE, {"platform.take_rate": 0.16}, TINY).scenario()
    session = RunSession([base, whatif], 50)
    session.cancel()  # before its first run ends
    session.start()
    assert session.wait(60)
    snap = session.snapshot()
    assert snap.status == "cancelled" and sum(snap.done) < 100


@pytest.mark.slow
def test_a_session_with_robust_points_gives_the_verdicts_compare_gives(tmp_path, monkeypatch):
    from experiments.comparison import run_comparison
    from studio.session import RunSession
    from studio.views import changes_table
    monkeypatch.setenv("ECOMSIM_CACHE", str(tmp_path / "cache"))
    base = ColumnSetting(BASELINE, {}, TINY).scenario()
    whatif = ColumnSetting(BASELINE, {"platform.take_rate": 0.16}, TINY).scenario()
    session = RunSession([base, whatif], 2, robust=2).start()
    assert session.wait(120)
    snap = session.snapshot()
    assert snap.status == "finished" and snap.robust_done == snap.robust_total == 8
    saved = run_comparison(base, [whatif], 2, tmp_path / "cmp", robust=2)  # every run from the cache
    assert saved.stats.cached == 4
    pd.testing.assert_frame_equal(snap.verdicts, saved.verdicts)
    assert "across 2 market points" in changes_table(snap.paired, session.names, {}, snap.verdicts, 2)


def test_every_library_scenario_gives_a_column_with_its_levers_as_widgets():
    from studio.app import Studio
    studio = Studio(1)
    column = studio.columns[1]
    for name in studio.library:
        column.start.value = name
        assert column.levers, name
        assert column.scenario is not None, f"{name}: {column.message.object}"
    column.start.value = "bench" if "bench" in studio.library else "retention_bundle"
    fee = column.levers["policies.loyalty.membership.fee_per_month"][1]
    fee.value = -1.0
    assert column.scenario is None and "greater than or equal to 0" in column.message.object
    assert studio.run_button.disabled
    fee.value = 7.0
    assert column.scenario.policies.loyalty.membership.fee_per_month == 7.0 and not studio.run_button.disabled
    switch = column.levers["policies.subsidy.enabled"][1]
    switch.value = False
    assert not column.scenario.policies.subsidy.enabled and "policies.subsidy.enabled=false" in column.setting.sets


def test_a_policy_kpi_the_baseline_lacks_is_shown_as_a_level_and_intervals_decide_the_words():
    from studio.views import changes_table, finding
    rows = [{"scenario": "coupons", "kpi": "coupons_issued", "mean": 3000.0, "sd": 100.0, "replications": 4,
             "delta_vs_baseline": 3000.0, "ci_low": 2800.0, "ci_high": 3200.0},
            {"scenario": "coupons", "kpi": "gmv", "mean": 1e6, "sd": 1e4, "replications": 4,
             "delta_vs_baseline": 5000.0, "ci_low": -1000.0, "ci_high": 11000.0},
            {"scenario": "coupons", "kpi": "platform_profit", "mean": 1e5, "sd": 1e3, "replications": 4,
             "delta_vs_baseline": -2000.0, "ci_low": -3000.0, "ci_high": -1000.0}]
    page = changes_table(pd.DataFrame(rows), ["baseline", "coupons"], {"baseline": set(), "coupons": {"subsidy"}})
    issued = page.split("data-kpi='coupons_issued'")[1].split("</td>")[0]
    assert "level (the baseline has no such policy)" in issued and "3,000" in issued and "+3,000" not in issued
    gmv = page.split("data-kpi='gmv'")[1].split("</td>")[0]
    assert "no clear change" in gmv and "+5,000" in gmv
    profit = page.split("data-kpi='platform_profit'")[1].split("</td>")[0]
    assert ">lower<" in profit
    assert finding(pd.DataFrame(rows), ["baseline", "coupons"]) == \
        "GMV: no clear change in coupons. Platform profit: lower in coupons (95% paired intervals)"


def test_a_comparison_run_from_the_command_line_is_reused_by_the_studio(tmp_path, monkeypatch):
    from conftest import cli
    from studio.session import RunSession
    monkeypatch.setenv("ECOMSIM_CACHE", str(tmp_path / "cache"))
    whatif = ColumnSetting(BASELINE, {"platform.take_rate": 0.16}, TINY)
    named = whatif.scenario()
    mine = tmp_path / "my_take_rate.yaml"  # the user's own file: another name, the same market
    mine.write_text(whatif.yaml(named).replace(f"name: {named.name}", "name: my_take_rate"), encoding="utf-8")
    done = cli("compare", str(BASELINE), str(mine), "--replications", "2", "--out", str(tmp_path / "cmp"),
               *(a for s in TINY for a in ("--set", s)), "--quiet")
    assert done.returncode == 0, done.stderr
    session = RunSession([ColumnSetting(BASELINE, {}, TINY).scenario(), named], 2).start()
    assert session.wait(60)
    assert session.snapshot().cached == 4


def test_the_studio_command_refuses_other_hosts_without_a_password_and_bad_options(tmp_path):
    from conftest import cli
    refused = cli("studio", "--host", "0.0.0.0")
    assert refused.returncode == 2 and "password" in refused.stderr and "Traceback" not in refused.stderr
    short = tmp_path / "pw"
    short.write_text("abc")
    weak = cli("studio", "--host", "0.0.0.0", "--password-file", str(short))
    assert weak.returncode == 2 and "at least 8 characters" in weak.stderr
    assert cli("studio", "--password-file", str(tmp_path / "missing")).returncode == 2
    assert cli("studio", "--port", "70000").returncode == 2
    assert cli("studio", "--workers", "0").returncode == 2


@pytest.mark.slow
def test_with_a_password_the_studio_asks_for_it(tmp_path):
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request
    secret = tmp_path / "pw"
    secret.write_text("a long enough secret\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "run.py", "studio", "--port", "0", "--workers", "1",
                                "--password-file", str(secret)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        url = process.stdout.readline().split(" at ", 1)[1].split(" ", 1)[0]

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open(url, timeout=10)
        assert caught.value.code in (302, 401, 403) and "login" in caught.value.headers.get("Location", "login")
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow
def test_a_session_on_a_dask_cluster_gives_the_same_bits(tmp_path, monkeypatch):
    from distributed import Client, LocalCluster

    from studio.session import RunSession
    monkeypatch.setenv("ECOMSIM_CACHE", "off")
    columns = [ColumnSetting(BASELINE, {}, TINY).scenario(),
               ColumnSetting(BASELINE, {"platform.take_rate": 0.16}, TINY).scenario()]
    local = RunSession(columns, 2).start()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = RunSession(columns, 2, executor=client.get_executor()).start()
        assert remote.wait(120)
    assert local.wait(120)
    pd.testing.assert_frame_equal(local.snapshot().paired, remote.snapshot().paired)


def test_columns_are_the_same_scenario_by_content_and_distinct_names_are_kept_apart():
    from studio.app import Studio, _distinct_names
    studio = Studio(1)
    studio.add_column("retention_bundle")
    studio.columns[1].start.value = "retention_bundle"
    first = studio.columns[1].levers["policies.subsidy.campaigns.0.value"][1]
    second = studio.columns[2].levers["policies.subsidy.campaigns.1.value"][1]
    first.value, second.value = 8.0, 8.0  # different markets, the same name by `run --set`'s rule
    assert studio.columns[1].scenario.name == studio.columns[2].scenario.name
    assert studio.problems() == []
    names = [s.name for s in _distinct_names([c.scenario for c in studio.columns])]
    assert len(set(names)) == 3 and names[2].endswith("--column2")
    second.value = 15.0  # back to the file's value: column 2 is the bundle itself, column 1 is not
    first.value = 5.0  # now both are the bundle as shipped
    assert any("same scenario" in p for p in studio.problems())
    studio.remove_column(studio.columns[2])
    studio.add_column()
    assert [c.title for c in studio.columns] == ["Baseline", "What-if 1", "What-if 2"]
    assert len({c.index for c in studio.columns}) == 3  # CSS ids never reused


def test_a_cached_run_keeps_its_integer_kpis(tmp_path):
    from experiments.batch import Job, Outcome, run_batch
    from experiments.cache import RunCache

    def counted(x: float, seed: int) -> Outcome:
        return Outcome({"orders": 3, "gmv": 1.5 * x}, {}, 0.0)
    jobs = [Job(0, 0, 1, {}, (2.0,), "k")]
    seen = []
    run_batch(jobs, counted, tmp_path / "a", cache=RunCache(tmp_path / "cache"))
    run_batch(jobs, counted, tmp_path / "b", cache=RunCache(tmp_path / "cache"), on_record=seen.append)
    assert seen[0].kpis == {"orders": 3, "gmv": 3.0} and isinstance(seen[0].kpis["orders"], int | np.integer)


def test_a_policy_the_starting_file_lacks_can_be_added_with_its_library_settings_and_changed(tmp_path):
    from studio.app import Studio
    studio = Studio(1)
    column = studio.columns[1]
    assert "policies.referral.enabled" not in column.levers
    column._add_policy("referral", True)  # what the "Add a policy" checkbox does
    assert "policies.referral.reward_referrer" in column.levers
    column.levers["platform.take_rate"][1].value = 0.13
    column._add_policy("loyalty", True)  # changes made so far are kept
    assert column.levers["platform.take_rate"][1].value == 0.13
    column.levers["policies.referral.reward_referrer"][1].value = 15.0
    scenario = column.scenario
    assert scenario.policies.referral.reward_referrer == 15 and scenario.policies.loyalty is not None
    assert scenario.policies.referral.referral_q == load_scenario(library()["referral"]).policies.referral.referral_q
    assert scenario.name == "baseline--referral-on--loyalty-on--take_rate-0.13--reward_referrer-15"
    written = tmp_path / "column.yaml"  # the YAML the column shows is the same scenario
    written.write_text(column.setting.yaml(scenario), encoding="utf-8")
    assert load_scenario(written).model_dump() == scenario.model_dump()
    words = shlex.split(column.setting.command())  # and so is the command line
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    assert load_scenario(ROOT / words[3], sets).model_dump(exclude={"name", "description"}) == \
        scenario.model_dump(exclude={"name", "description"})
    column._add_policy("referral", False)
    assert column.scenario.policies.referral is None and "policies.referral.reward_referrer" not in column.levers

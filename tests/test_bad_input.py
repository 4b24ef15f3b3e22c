"""Bad input a new user hit: each ends in exit 2, one `error:` line naming the file or option and
the field, no traceback, nothing written. Fast: every input fails while loading, before a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import BASELINE, SMALL
from sim import scenario_io
from sim.cli import main
from sim.errors import ScenarioError
from sim.outputs import atomic_folder
from sim.scenario_io import load_scenario, parse_scenario

BASE = str(BASELINE)
# a small, short run: should a check ever let bad input through, the test fails in seconds, not minutes
SETS = [arg for s in [*SMALL, "simulation.days=2"] for arg in ("--set", s)]


def bad_run(capsys, tmp_path: Path, *args: str) -> str:
    """Run `run.py run ARGS --out tmp_path/out`: exit 2, one error line, nothing written; the line."""
    before = set(tmp_path.iterdir())
    out = tmp_path / "out"
    code = main(["run", *args, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert not out.exists()
    assert set(tmp_path.iterdir()) == before  # no results folder, no temporary folder
    return lines[0]


# --- 1. --set of a list index past the end ------------------------------------------------------


@pytest.mark.parametrize("item,field,phrase", [
    ("shoppers.segments.9.price_sensitivity=3", "shoppers.segments.9",
     "past the end of 'shoppers.segments': it has 4 items, so the index must be 0 to 3"),
    ("shoppers.segments.4={name: x, share: 0.1}", "shoppers.segments.4", "it has 4 items"),
    ("seasonality.peaks.99.multiplier=2", "seasonality.peaks.99", "past the end of 'seasonality.peaks'"),
    # a list the scenario files leave at its schema default: counted from that default
    ("catalog.categories.50.price_level=2", "catalog.categories.50", "past the end of 'catalog.categories'"),
])
def test_set_list_index_past_the_end_is_blamed_on_the_set(capsys, tmp_path, item, field, phrase):
    line = bad_run(capsys, tmp_path, BASE, *SETS, "--set", item)
    assert line.startswith(f"error: --set {item}: {field}: list index ")
    assert phrase in line


@pytest.mark.parametrize("text,item,field,shown", [
    ("platform: 5\n", "platform.take_rate=0.1", "platform", "is 5"),
    ("shoppers: {segments: [null]}\n", "shoppers.segments.0.share=1", "shoppers.segments.0", "is null"),
])
def test_set_into_a_value_that_is_not_a_mapping(capsys, tmp_path, text, item, field, shown):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BASE}\n{text}")
    line = bad_run(capsys, tmp_path, str(scenario), *SETS, "--set", item)
    assert line.startswith(f"error: --set {item}: {field}: {shown} in the scenario, not a mapping")


def test_set_of_an_item_of_a_default_list_that_exists_still_works():
    sc = load_scenario(BASELINE, ["catalog.categories.0.price_level=2"])
    assert sc.catalog.categories[0].price_level == 2.0
    assert len(sc.catalog.categories) == len(load_scenario(BASELINE).catalog.categories)


# --- 2. non-finite numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "nan", ".inf", ".nan", "1.0e+400"])
@pytest.mark.parametrize("field", [
    "platform.marketing_spend_per_day",               # NonNegative
    "platform.take_rate",                             # float with bounds
    "suppliers.capacity_units_per_day",               # Positive | None
    "shoppers.segments.0.category_preferences.home",  # dict[str, Positive] item
    "policies.green_logistics.ev_share",              # Probability | None, in a policy section
])
def test_set_non_finite_number_is_refused(capsys, tmp_path, field, value):
    item = f"{field}={value}"
    line = bad_run(capsys, tmp_path, BASE, *SETS, "--set", item)
    assert line.startswith(f"error: --set {item}: {field}: ")
    assert "must be a finite number" in line or "greater than" in line or "less than" in line


def test_set_inf_message_says_what_is_allowed(capsys, tmp_path):
    line = bad_run(capsys, tmp_path, BASE, *SETS, "--set", "platform.marketing_spend_per_day=inf")
    assert line.startswith("error: --set platform.marketing_spend_per_day=inf: platform.marketing_spend_per_day: "
                           "must be a finite number (got 'inf')")
    assert "1e400" in line


@pytest.mark.parametrize("text,field", [
    ("platform: {marketing_spend_per_day: .inf}\n", "platform.marketing_spend_per_day"),
    ("platform: {marketing_spend_per_day: 1e400}\n", "platform.marketing_spend_per_day"),
    ("platform: {marketing_spend_per_day: 1.0e+400}\n", "platform.marketing_spend_per_day"),
    ("platform: {fixed_cost_per_day: .nan}\n", "platform.fixed_cost_per_day"),
    ("suppliers: {capacity_units_per_day: .inf}\n", "suppliers.capacity_units_per_day"),
])
def test_non_finite_number_in_a_file_is_refused(capsys, tmp_path, text, field):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BASE}\n{text}")
    line = bad_run(capsys, tmp_path, str(scenario), *SETS)
    assert line.startswith(f"error: {scenario}: {field}: must be a finite number")


# --- 3. empty scenario files ----------------------------------------------------------------------


@pytest.mark.parametrize("text,what", [
    ("", "the file is empty"),
    ("# just a comment\n\n   \n# another\n", "the file is empty"),
    ("  \n\t\n", "the file is empty"),
    ("{}\n", "the file sets no fields"),
])
def test_empty_scenario_file_is_an_error(capsys, tmp_path, text, what):
    scenario = tmp_path / "empty.yaml"
    scenario.write_text(text)
    line = bad_run(capsys, tmp_path, str(scenario), *SETS)
    assert line == (f"error: {scenario}: {what}; start a scenario with 'extends: baseline.yaml' "
                    "and the fields you change")


def test_empty_parent_file_is_an_error_naming_it(capsys, tmp_path):
    (tmp_path / "parent.yaml").write_text("# nothing yet\n")
    (tmp_path / "child.yaml").write_text("extends: parent.yaml\nplatform: {take_rate: 0.1}\n")
    line = bad_run(capsys, tmp_path, str(tmp_path / "child.yaml"), *SETS)
    assert line.startswith(f"error: {tmp_path / 'parent.yaml'}: the file is empty")


def test_a_file_that_only_extends_is_fine(tmp_path):
    child = tmp_path / "same_as_baseline.yaml"
    child.write_text(f"# the baseline under another name\nextends: {BASE}\n")
    sc = load_scenario(child)
    assert sc.name == "same_as_baseline"
    assert sc.platform.marketing_spend_per_day == load_scenario(BASELINE).platform.marketing_spend_per_day


# --- 4. permissions of the results folder ---------------------------------------------------------


@pytest.mark.parametrize("mask,mode", [(0o022, 0o755), (0o027, 0o750), (0o077, 0o700)])
def test_results_folder_gets_the_mode_of_a_normal_mkdir(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        with atomic_folder(tmp_path / "result") as tmp:
            (tmp / "summary.json").write_text("{}\n")
        assert os.umask(mask) == mask  # atomic_folder put the umask back
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(old)
    assert (tmp_path / "result" / "summary.json").is_file()
    assert (tmp_path / "result").stat().st_mode & 0o777 == mode
    assert (tmp_path / "plain").stat().st_mode & 0o777 == mode


# --- 5. the input check is parse_scenario, not `validate` (that is sim/validate.py) ---------------


def test_parse_scenario_is_the_input_check():
    assert not hasattr(scenario_io, "validate")
    with pytest.raises(ScenarioError) as info:
        parse_scenario({"platform": {"marketing_spend_per_day": float("inf")}}, source="x.yaml")
    assert str(info.value).startswith("x.yaml: platform.marketing_spend_per_day: must be a finite number (got inf)")

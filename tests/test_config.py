"""Scenario schema and loading: defaults, extends, --set, and one clear message per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import BASELINE, ROOT
from sim.errors import ScenarioError
from sim.scenario import Scenario
from sim.scenario_io import load_scenario


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path, overrides=None) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    return info.value


def test_every_shipped_scenario_is_valid():
    files = sorted(f for f in (ROOT / "scenarios").rglob("*.yaml") if f.name != "uncertainties.yaml")
    assert len(files) >= 2
    for path in files:
        assert isinstance(load_scenario(path), Scenario)


def test_baseline_values_are_the_cdnow_fit():
    sc = load_scenario(BASELINE)
    assert (sc.shoppers.bgnbd.r, sc.shoppers.bgnbd.alpha, sc.shoppers.bgnbd.a, sc.shoppers.bgnbd.b) == (
        0.243, 4.414, 0.793, 2.426)
    assert (sc.shoppers.spend.p, sc.shoppers.spend.q, sc.shoppers.spend.gamma) == (6.25, 3.74, 15.44)


def test_extends_merges_mappings_and_replaces_lists(tmp_path):
    child = write(tmp_path, "child.yaml", f"extends: {BASELINE}\nname: child\nplatform: {{take_rate: 0.2}}\n"
                  "seasonality: {peaks: []}\n")
    sc = load_scenario(child)
    assert sc.name == "child"
    assert sc.platform.take_rate == 0.2
    assert sc.platform.marketing_spend_per_day == 400  # inherited, not reset to the default
    assert sc.seasonality.peaks == []


def test_set_overrides_nested_fields_and_list_items():
    sc = load_scenario(BASELINE, ["shoppers.bgnbd.r=0.5", "shoppers.segments.0.price_sensitivity=3",
                                  "merchants.unlimited_stock=true"])
    assert sc.shoppers.bgnbd.r == 0.5
    assert sc.shoppers.segments[0].price_sensitivity == 3.0
    assert sc.merchants.unlimited_stock is True


def test_unknown_key_names_file_path_and_suggests(tmp_path):
    bad = write(tmp_path, "bad.yaml", "shoppers:\n  bgnbd:\n    alpah: 4.0\n")
    err = error_of(bad)
    assert err.source == str(bad)
    assert err.field == "shoppers.bgnbd.alpah"
    assert "did you mean 'alpha'" in err.message


def test_wrong_type(tmp_path):
    err = error_of(write(tmp_path, "t.yaml", "shoppers: {count: lots}\n"))
    assert err.field == "shoppers.count" and "integer" in err.message and "'lots'" in err.message


def test_out_of_range(tmp_path):
    err = error_of(write(tmp_path, "r.yaml", "platform: {take_rate: 1.5}\n"))
    assert err.field == "platform.take_rate" and "less than 1" in err.message


def test_missing_file(tmp_path):
    err = error_of(tmp_path / "nope.yaml")
    assert "file not found" in err.message and "nope.yaml" in str(err)


def test_malformed_yaml_gives_line(tmp_path):
    err = error_of(write(tmp_path, "m.yaml", "shoppers:\n  count: [1, 2\n"))
    assert "malformed YAML" in err.message and "line" in err.message


def test_extends_cycle(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    err = error_of(tmp_path / "a.yaml")
    assert err.field == "extends" and "cycle" in err.message


def test_unknown_set_path_suggests():
    err = error_of(BASELINE, ["shoppers.cuont=5"])
    assert err.source == "--set shoppers.cuont=5"
    assert err.field == "shoppers.cuont" and "did you mean 'count'" in err.message


def test_set_value_is_validated_like_the_file():
    err = error_of(BASELINE, ["shoppers.bgnbd.r=-1"])
    assert err.field == "shoppers.bgnbd.r" and "greater than 0" in err.message


def test_segment_shares_must_sum_to_one():
    err = error_of(BASELINE, ["shoppers.segments.0.share=0.9"])
    assert err.field == "shoppers" and "add up to 1" in err.message


def test_unknown_category_in_preferences(tmp_path):
    bad = write(tmp_path, "c.yaml", f"extends: {BASELINE}\nshoppers:\n  segments:\n"
                "    - {name: a, share: 1.0, category_preferences: {vinyl: 2}}\n")
    err = error_of(bad)
    assert "vinyl" in err.message and "fashion" in err.message


def test_lifecycle_windows_ordered():
    err = error_of(BASELINE, ["shoppers.lifecycle.churned_after_days=60"])
    assert "dormant_after_days < churned_after_days" in err.message


def test_a_sample_gets_its_share_of_the_platform():
    """shoppers.represents: a 20,000-shopper run of the 100,000-shopper baseline simulates a fifth of its
    merchants, suppliers, marketing, fixed costs and policy budgets; the scenario keeps the platform's."""
    from sim.scenario_io import load_scenario

    budget = "policies.subsidy={campaigns: [{name: w, target: new, value: 5, monthly_budget: 3000}]}"
    scenario = load_scenario(ROOT / "scenarios" / "baseline.yaml", ["shoppers.count=20000", budget])
    sample = scenario.at_sample()
    assert scenario.shoppers.sample_fraction == 0.2 and scenario.merchants.count == 40
    assert (sample.merchants.count, sample.suppliers.count) == (8, 10)
    assert sample.platform.marketing_spend_per_day == 80 and sample.platform.fixed_cost_per_day == 40
    assert sample.acquisition.paid_reference_spend_per_day == 80
    assert sample.policies.subsidy.campaigns[0].monthly_budget == 600
    whole = load_scenario(ROOT / "scenarios" / "baseline.yaml", [])
    assert whole.at_sample() is whole  # the run is the platform: nothing scaled


def test_a_sample_cannot_be_larger_than_the_platform():
    from sim.errors import ScenarioError
    from sim.scenario_io import load_scenario

    with pytest.raises(ScenarioError, match="represents"):
        load_scenario(ROOT / "scenarios" / "baseline.yaml", ["shoppers.count=200000"])

"""`run.py report` on a run folder, and on folders it cannot report on."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, SMALL, cli


def test_the_report_of_a_run_has_its_key_numbers_and_charts(tmp_path):
    sets = [a for s in [*SMALL, "simulation.days=30"] for a in ("--set", s)]
    assert cli("run", str(ROOT / "scenarios" / "referral.yaml"), "--out", str(tmp_path / "run"), "--quiet",
               "--set", 'description="<script src=http://example.com/x.js></script> & more"', *sets).returncode == 0
    proc = cli("report", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "referral cost" in html and "Profit and loss" in html and html.count("data:image/png;base64,") == 2
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<script" not in html  # text is escaped
    assert "&lt;script src=http://example.com/x.js&gt;" in html
    assert (tmp_path / "run" / "report.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("make, message", [(lambda d: None, "not a results folder"),
                                           (lambda d: (d / "comparison.csv").write_text("x"), "missing")])
def test_a_folder_that_cannot_be_reported_exits_2(tmp_path, make, message):
    make(tmp_path)
    proc = cli("report", str(tmp_path))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "report.html").exists()

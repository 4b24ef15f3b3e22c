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
    pdf = (tmp_path / "run" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    # each chart is the PNG's own pixels in the PDF, not resampled (blurred) to the page's 100 dpi
    import struct
    for png in ("kpis", "supply_chain"):
        width, height = struct.unpack(">II", (tmp_path / "run" / "charts" / f"{png}.png").read_bytes()[16:24])
        assert b"/Subtype /Image /Width %d /Height %d" % (width, height) in pdf, png


@pytest.mark.parametrize("make, message", [(lambda d: None, "not a results folder"),
                                           (lambda d: (d / "comparison.csv").write_text("x"), "missing")])
def test_a_folder_that_cannot_be_reported_exits_2(tmp_path, make, message):
    make(tmp_path)
    proc = cli("report", str(tmp_path))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "report.html").exists()


def test_report_tables_wrap_long_sources_align_words_left_and_never_print_scientific_notation():
    """PDF tables: a source longer than a cell wraps onto more lines (not cut with "..."), columns of words are
    left-aligned, figures right-aligned; analysis numbers are plain (39,158, not 3.916e+04); sources are plain
    text (no Markdown marks)."""
    import pandas as pd

    from experiments.report import _figure, _source_text
    source = "Van Heerde, Leeflang & Wittink (2004): about a third of a promotion bump is purchases pulled forward"
    table = pd.DataFrame({"parameter": ["a.b", "c"], "baseline": ["1", "20"], "source or assumption": [source, "x y"]})
    from experiments.report import _text_rows
    assert [len(group) for group in _text_rows(table, width=40)] == [1, 3, 1]  # a row's lines kept as one group
    lines = [line for group in _text_rows(table, width=40) for line in group]
    assert len(lines) == 1 + 3 + 1 and "..." not in "\n".join(lines)  # header, three lines of the source, c
    column = lines[0].index("source or assumption")
    assert lines[1][column:].startswith("Van Heerde") and lines[2][column:].startswith("about")
    assert lines[1].index(" 1 ") < column and lines[4].rstrip().endswith("x y")
    assert (_figure(39158.2), _figure(2.11234), _figure(0.08), _figure(float("nan"))) == ("39,158", "2.112", "0.08",
                                                                                           "—")
    assert (_figure(3.2e-05), _figure(-0.0), _figure(-12.5)) == ("0.000032", "0", "-12.5")
    from experiments.report import _text_columns
    kinds = pd.DataFrame({"parameter": ["a", "b"], "kind": ["lever", "uncertainty"], "values": ["1,234", "-5.0%"],
                          "change": ["+5.0 [+1.0, +9.0]", "-0.2 pp [-0.4 pp, +0.1 pp]"], "verdict": ["robust", "—"]})
    assert _text_columns(kinds) == {"kind", "verdict"}  # single words are text too; figures and intervals are not
    assert _source_text("see `ev_share` and [factors](#emission-factors), **bold**") == "see ev_share and factors, bold"


def test_pdf_tables_are_set_in_the_body_texts_size_unless_too_wide_for_the_page():
    """A PDF table is set in 9.5 pt, the body text's size, when its widest line fits the page's text width;
    a wider table is set smaller, as far as it must to fit (down to 6.5 pt, where _text_rows splits its
    columns into blocks of at most 190 characters)."""
    import pandas as pd

    from experiments.report import MONO_ADVANCE, PAGE_WIDTH_PT, _table_blocks
    narrow = pd.DataFrame({"KPI": ["GMV", "orders"], "baseline": ["10,225", "229"], "referral": ["+1", "+2"]})
    assert {block[2] for block in _table_blocks(narrow)} == {9.5}
    wide = pd.DataFrame({f"scenario {i}": ["+1,125 [+728, +1,522]"] for i in range(9)}, index=[0])
    blocks = _table_blocks(wide)
    size = blocks[0][2]
    widest = max(len(block[1]) for block in blocks)
    assert 6.5 <= size < 9.5 and {block[2] for block in blocks} == {size}
    assert widest * MONO_ADVANCE * size <= 0.92 * PAGE_WIDTH_PT + 0.05 * MONO_ADVANCE * widest  # fits the width


@pytest.mark.parametrize("means, represents, said", [
    ([40.0, 25.0], 100_000, None), ([40.0, 19.6], 100_000, None), ([40.0, 1.2], 100_000, "Only 1 merchant is active"),
    ([12.0, 5.0], None, "Only 5 merchants are active"), ([3.0, 0.0], None, "No merchant is active")])
def test_a_comparison_with_few_merchants_says_so_and_how_to_get_more(means, represents, said):
    """Fewer than 20 merchants active at the end (rounded means) in some scenario: a note; its advice follows
    how merchants are sized (with a represented population they scale with the sample of shoppers)."""
    import types

    import pandas as pd

    from experiments.report import _few_merchants
    table = pd.DataFrame({"scenario": ["a", "b"], "kpi": "merchants_active_end", "mean": means})
    base = types.SimpleNamespace(shoppers=types.SimpleNamespace(represents=represents))
    note = _few_merchants(table, base)
    if said is None:
        assert note is None
        return
    assert note.startswith(said)
    assert ("larger sample of shoppers" in note) == (represents is not None) and ("merchants.count" in note) == (
        represents is None)

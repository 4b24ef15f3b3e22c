"""The house style of every chart ecomsim draws (matplotlib): one place for colours, number and
date formats, titles that state the finding, warnings, and saving as PNG and SVG.

- Scenario colours are fixed by a scenario's position in the folder (baseline first, always
  grey): a colour-blind-safe sequence, Okabe & Ito (2008), then Paul Tol's "muted" scheme
  (2021) for more than seven scenarios, so no two of up to sixteen scenarios share a colour.
- A change is green when it is good for that KPI, red when it is bad (the KPI catalogue's
  `better`), dark grey when the KPI has no better direction.
- Titles say what the chart finds in words; the subtitle says what was run.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

BASELINE = "#7f7f7f"
SCENARIOS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",  # Okabe & Ito
             "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255")  # Tol muted
GOOD, BAD, NEUTRAL = "#1a9850", "#d73027", "#4d4d4d"
WARNING = "#b2182b"
SUBTLE = "#555555"
DPI = 110
MIN_REPLICATIONS = 5  # fewer: charts and reports warn that the intervals cannot support a decision


def scenario_colours(names: list[str]) -> dict[str, str]:
    """The first name (the baseline) grey, the others in the fixed sequence."""
    colours = {names[0]: BASELINE} if names else {}
    colours.update({name: SCENARIOS[i % len(SCENARIOS)] for i, name in enumerate(names[1:])})
    return colours


def text_colour(colour: str) -> tuple[float, float, float]:
    """A scenario's colour dark enough to read as text on white (light ones are darkened)."""
    from matplotlib.colors import to_rgb
    r, g, b = to_rgb(colour)
    light = 0.2126 * r + 0.7152 * g + 0.0722 * b
    k = min(1.0, 0.45 / light) if light > 0 else 1.0
    return (r * k, g * k, b * k)


def change_colour(delta: float, better: str) -> str:
    """Green if the change is good for a KPI whose `better` is higher/lower, red if bad, grey otherwise."""
    if better not in ("higher", "lower") or delta == 0:
        return NEUTRAL
    return GOOD if (delta > 0) == (better == "higher") else BAD


def number(value: float, sign: bool = False) -> str:
    """Readable at any scale: 1,234,567 / 12.3 / 0.123 (with a sign on request)."""
    s = "+" if sign else ""
    if abs(value) >= 100:
        return f"{value:{s},.0f}"
    if abs(value) >= 1:
        return f"{value:{s},.1f}"
    return f"{value:{s}.3g}"


def target_texts(kpi: str, measure: str, goal: str, estimate: float, low: float, high: float) -> tuple[str, str]:
    """A target's goal and its estimate with interval, in the KPI's terms: relative changes and shares in %,
    other levels as numbers ("relative change >= 20%", "+35.0% [+31.0%, +39.0%]")."""
    from sim.kpis import by_name
    kind, value = goal.split()
    info = by_name().get(kpi)
    if measure.startswith("relative") or (info is not None and info.unit.startswith("share")):
        sign = "+" if measure.startswith("relative") else ""
        def show(v: float) -> str:
            return f"{100 * v:{sign}.1f}%"
    else:
        def show(v: float) -> str:
            return number(v)
    return f"{measure} {kind} {show(float(value)).lstrip('+')}", f"{show(estimate)} [{show(low)}, {show(high)}]"


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value == round(value) else number(value)


def thousands(axis, ticks: int = 6) -> None:
    """Tick labels with thousands separators (no decimals on whole numbers), at most about `ticks` of them
    so long labels do not run into each other."""
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _tick(v)))


def percent(axis) -> None:
    """Tick labels of shares (0-1) as %, with as many decimals as the ticks need."""
    from matplotlib.ticker import PercentFormatter
    axis.set_major_formatter(PercentFormatter(1.0))


def dates(axis) -> None:
    """Month ticks with concise labels (Jan, Feb, ... with the year where it changes). Call it once the
    data are drawn: the ticks are chosen for the axis's range then and kept (matplotlib's automatic date
    locator would otherwise recompute the same ticks at every layout pass and draw, a third of a chart's
    drawing time)."""
    from matplotlib.ticker import FixedLocator
    auto = mdates.AutoDateLocator(minticks=4, maxticks=10)
    auto.set_axis(axis)
    locator = FixedLocator(auto())
    axis.set_major_locator(locator)
    axis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def tidy(ax, grid: str = "both") -> None:
    """Light grid, no top and right spines."""
    ax.grid(axis=grid, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def titled(fig, finding: str, subtitle: str, warning: str | None = None) -> None:
    """The finding as the title, what was run as the caption beneath the panels, and a visible
    warning (red, under the title) when the numbers are too uncertain to act on.
    The figure must use the constrained layout (it makes room for all three)."""
    import math
    import textwrap
    per_line = int(fig.get_size_inches()[0] * 15)  # characters of 9-point text per line
    title = textwrap.fill(finding, int(per_line * 0.6))  # 13-point bold is wider
    if warning:  # in blank lines the title keeps free for it under the finding
        warning = textwrap.fill(warning, per_line)
        lines, height = title.count("\n") + 1, fig.get_size_inches()[1]
        blank = math.ceil(((warning.count("\n") + 1) * 9.5 + 4) / 13)  # its lines and a gap above the panels
        fig.suptitle(title + "\n " * blank, fontsize=13, fontweight="bold")
        fig.text(0.5, 0.98 - lines * 13 * 1.2 / 72 / height, warning, ha="center", va="top", fontsize=9.5,
                 fontweight="bold", color=WARNING)
    else:
        fig.suptitle(title, fontsize=13, fontweight="bold")
    fig.supxlabel(textwrap.fill(subtitle, per_line), fontsize=9, color=SUBTLE)


def save(fig, path: Path) -> list[Path]:
    """PNG (for reports and slides) and SVG (for editing) side by side; the figure is closed.

    The figure is laid out once, at the PNG's resolution, and both files keep that layout (matplotlib
    would lay it out again for each file, measuring every text each time): the layout engine runs alone,
    not in a draw of every artist that renders nothing (draw_without_rendering; the same places, 10% less
    time). The PNG is compressed at zlib level 1: about 9% larger than the default level 6 and a third
    faster to write (issue 23). The SVG's element ids are derived from a fixed salt, so the same chart is
    the same file."""
    path = Path(path)
    fig.dpi = DPI  # laid out at the resolution it is saved at
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    fig.set_layout_engine(None)  # keep the places found
    written = []
    for suffix, options in ((".png", {"pil_kwargs": {"compress_level": 1}}), (".svg", {"metadata": {"Date": None}})):
        target = path.with_suffix(suffix)
        # SVG text stays text (editable and searchable); ids from a fixed salt, not the process's randomness
        with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ecomsim"}):
            fig.savefig(target, dpi=DPI, **options)
        written.append(target)
    plt.close(fig)
    return written

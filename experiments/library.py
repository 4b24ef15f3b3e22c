"""The scenario library and validation cases shipped with ecomsim (package data `scenarios`).

From a checkout they are the project's scenarios/ folder; from an installed package, the copy
installed beside it, so `ecomsim bench` and `ecomsim validate` work from any folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sim.errors import ScenarioError


def scenario_file(relative: str) -> Path:
    """The path of a shipped scenario, e.g. 'bench.yaml' or 'validation/bullwhip.yaml'."""
    try:
        path = Path(str(resources.files("scenarios").joinpath(relative)))
    except ModuleNotFoundError:
        path = Path(__file__).resolve().parent.parent / "scenarios" / relative
    if not path.is_file():
        raise ScenarioError(f"scenarios/{relative}", None, "the shipped scenario is missing from this installation "
                            "(reinstall ecomsim, or run from the project folder)")
    return path

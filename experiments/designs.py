"""Sweep designs: where a sweep places its points, and what analysis each one supports.

Each design is one class registered in DESIGNS: its `kind` (the spec's `design.kind`), its checks,
its points, and what `run.py analyze` may do with it: sensitivity indices (`sensitivity`, with the
column that ranks parameters), whether its lever settings meet one common uncertainty sample (so a
Pareto set across settings compares them in the same markets) and whether a regret analysis
applies. Adding a design is a class here and a line in DESIGNS.

Specs are read duck-typed (levers, uncertainties, parameters, design), so this module does not
import experiments/sweeps.py, which imports it.

Convergence rule of the sensitivity designs (stated in docs/experiments.md): N is enough for a KPI
when every parameter's 95% confidence half-width is at most 20% of its index, or at most 0.02 when
the index is below 0.1 (Sobol ST); for Morris, the half-width of mu* is at most 20% of mu*, or of a
tenth of the largest mu* when mu* is smaller. Half-widths shrink as 1/sqrt(N), so the suggested N
is N x (half-width / allowed)^2 at the worst parameter (a power of two for Sobol).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd

RESAMPLES = 1000
CONFIDENCE = 0.95
RELATIVE_HALF_WIDTH = 0.2  # convergence: half-width at most 20% of the index ...
SMALL_INDEX = 0.1  # ... or of this floor for small indices (Sobol; Morris: a tenth of the largest mu*)


def salib_problem(params: list[Any]) -> dict[str, Any]:
    """SALib's problem: every parameter on the unit interval (values are mapped from it)."""
    return {"num_vars": len(params), "names": [p.path for p in params], "bounds": [[0.0, 1.0]] * len(params)}


def _values(params: list[Any], unit: np.ndarray) -> list[tuple]:
    """Points of the unit cube as the parameters' values."""
    return [tuple(p.value(u) for p, u in zip(params, row, strict=True)) for row in unit]


def _grid(params: list[Any], steps: int) -> list[tuple]:
    return list(itertools.product(*(p.grid(steps) for p in params)))


def _latin_hypercube(d: int, n: int, seed: int) -> np.ndarray:
    """n points of a Latin hypercube in [0, 1)^d (McKay, Beckman & Conover 1979: each column puts one point
    in each of n equal strata, in random order, at a uniform place within its stratum), drawn exactly as
    scipy.stats.qmc.LatinHypercube(d=d, seed=seed).random(n) draws them (the same generator calls, so the
    same bits: tests/test_sweep.py compares them) without importing scipy.stats, which takes 0.8 s, a third
    of a sweep's start-up (issue 23)."""
    rng = np.random.default_rng(seed)
    within = rng.uniform(size=(n, d))
    strata = np.tile(np.arange(1, n + 1), (d, 1))
    for column in strata:
        rng.shuffle(column)
    return (strata.T - within) / n


class Design:
    """A design: its points, its checks, and the analysis it supports."""

    kind: ClassVar[str]
    description: ClassVar[str]
    sensitivity: ClassVar[str | None] = None       # the column ranking parameters (ST, mu_star); None: no indices
    common_uncertainty: ClassVar[bool] = False     # every lever setting meets the same uncertainty values
    robustness: ClassVar[bool] = False             # each lever setting's regret across the uncertainty sample

    def check(self, spec: Any) -> None:
        """Checks of the spec against the design; raise ValueError saying what is wrong."""

    def rows(self, spec: Any) -> list[tuple]:
        """The points, one tuple of values per point, in the order of spec.parameters."""
        raise NotImplementedError

    def indices(self, spec: Any, means: pd.DataFrame, kpis: list[str]
                ) -> tuple[dict[str, pd.DataFrame], list[str]]:
        """Sensitivity tables (sensitivity, convergence, second_order) from the point means, and the KPIs
        skipped (no variation); only for designs with `sensitivity`."""
        raise NotImplementedError


class SampledDesign(Design):
    """A design whose points are a sample of the unit cube, mapped to the parameters' values."""

    def unit(self, spec: Any) -> np.ndarray:
        """The sample: one row per point in [0, 1)^d, one column per parameter."""
        raise NotImplementedError

    def rows(self, spec: Any) -> list[tuple]:
        return _values(spec.parameters, self.unit(spec))


class FullFactorial(Design):
    kind = "full_factorial"
    description = "every combination of the parameters' levels (`steps` values per range)"
    common_uncertainty = True

    def rows(self, spec: Any) -> list[tuple]:
        return _grid(spec.parameters, spec.design.steps)


class LatinHypercube(SampledDesign):
    kind = "latin_hypercube"
    description = "`n` points of a Latin hypercube (drawn as scipy.stats.qmc draws them)"

    def unit(self, spec: Any) -> np.ndarray:
        return _latin_hypercube(len(spec.parameters), spec.design.n, spec.design.seed)


class LeverXUncertainty(Design):
    kind = "lever_x_uncertainty"
    description = "every lever point (`steps` per range) against one common Latin-hypercube sample of `n` " \
                  "uncertainty points"
    common_uncertainty = True
    robustness = True

    def check(self, spec: Any) -> None:
        if not (spec.levers and spec.uncertainties):
            raise ValueError("lever_x_uncertainty needs both levers and uncertainties")

    def rows(self, spec: Any) -> list[tuple]:
        unc = spec.uncertainties
        sample = _values(unc, _latin_hypercube(len(unc), spec.design.n, spec.design.seed))
        return [lever + point for lever in _grid(spec.levers, spec.design.steps) for point in sample]


class Sobol(SampledDesign):
    kind = "sobol"
    description = "Saltelli's sample for Sobol indices (SALib), `n` base samples, a power of two"
    sensitivity = "ST"

    def check(self, spec: Any) -> None:
        n = spec.design.n
        if n & (n - 1):
            raise ValueError(f"sobol needs n a power of two (got {n}; e.g. {1 << n.bit_length()})")

    def unit(self, spec: Any) -> np.ndarray:
        from SALib.sample import sobol
        cfg = spec.design
        sample = sobol.sample(salib_problem(spec.parameters), cfg.n, calc_second_order=cfg.second_order, seed=cfg.seed)
        return np.minimum(sample, 1 - 1e-12)

    def indices(self, spec: Any, means: pd.DataFrame, kpis: list[str]
                ) -> tuple[dict[str, pd.DataFrame], list[str]]:
        """S1 and ST (and S2) with bootstrap half-widths, and the convergence verdict, per KPI."""
        from SALib.analyze import sobol
        problem, kind, n = salib_problem(spec.parameters), _kinds(spec), spec.design.n
        first, second, verdicts, skipped = [], [], [], []
        for kpi in kpis:
            y = means[kpi].to_numpy(dtype=float)
            if not _varies(y):
                skipped.append(kpi)
                continue
            # a Generator: SALib seeds its bootstrap only for a truthy seed, and the default design seed is 0
            res = sobol.analyze(problem, y, calc_second_order=spec.design.second_order, num_resamples=RESAMPLES,
                                conf_level=CONFIDENCE, seed=np.random.default_rng(spec.design.seed))
            for i, name in enumerate(problem["names"]):
                first.append({"kpi": kpi, "parameter": name, "kind": kind[name], "S1": res["S1"][i],
                              "S1_conf": res["S1_conf"][i], "ST": res["ST"][i], "ST_conf": res["ST_conf"][i]})
                if spec.design.second_order:
                    for j in range(i + 1, len(problem["names"])):
                        second.append({"kpi": kpi, "parameter_1": name, "parameter_2": problem["names"][j],
                                       "S2": res["S2"][i, j], "S2_conf": res["S2_conf"][i, j]})
            allowed = RELATIVE_HALF_WIDTH * np.maximum(res["ST"], SMALL_INDEX)
            verdicts.append(_verdict(kpi, res["ST_conf"], allowed, n, problem["names"], power_of_two=True))
        tables = {"sensitivity": pd.DataFrame(first), "convergence": pd.DataFrame(verdicts)}
        if second:
            tables["second_order"] = pd.DataFrame(second)
        return tables, skipped


class Morris(SampledDesign):
    kind = "morris"
    description = "`n` Morris trajectories on a grid of `morris_levels` levels (SALib)"
    sensitivity = "mu_star"

    def unit(self, spec: Any) -> np.ndarray:
        from SALib.sample import morris
        cfg = spec.design
        sample = morris.sample(salib_problem(spec.parameters), cfg.n, num_levels=cfg.morris_levels, seed=cfg.seed)
        return np.minimum(sample, 1 - 1e-12)

    def indices(self, spec: Any, means: pd.DataFrame, kpis: list[str]
                ) -> tuple[dict[str, pd.DataFrame], list[str]]:
        """Morris mu, mu*, sigma per parameter, in KPI units per whole range of the parameter."""
        from SALib.analyze import morris
        problem, kind = salib_problem(spec.parameters), _kinds(spec)
        x = self.unit(spec)
        rows, verdicts, skipped = [], [], []
        for kpi in kpis:
            y = means[kpi].to_numpy(dtype=float)
            if not _varies(y):
                skipped.append(kpi)
                continue
            res = morris.analyze(problem, x, y, num_resamples=RESAMPLES, conf_level=CONFIDENCE,
                                 num_levels=spec.design.morris_levels, seed=spec.design.seed)
            for i, name in enumerate(problem["names"]):
                rows.append({"kpi": kpi, "parameter": name, "kind": kind[name], "mu": res["mu"][i],
                             "mu_star": res["mu_star"][i], "mu_star_conf": res["mu_star_conf"][i],
                             "sigma": res["sigma"][i]})
            mu_star = np.asarray(res["mu_star"], dtype=float)
            allowed = RELATIVE_HALF_WIDTH * np.maximum(mu_star, SMALL_INDEX * mu_star.max())
            verdicts.append(_verdict(kpi, np.asarray(res["mu_star_conf"], dtype=float), allowed, spec.design.n,
                                     problem["names"], power_of_two=False))
        return {"sensitivity": pd.DataFrame(rows), "convergence": pd.DataFrame(verdicts)}, skipped


DESIGNS: dict[str, Design] = {d.kind: d for d in (FullFactorial(), LatinHypercube(), Sobol(), Morris(),
                                                    LeverXUncertainty())}


def design_of(spec: Any) -> Design:
    return DESIGNS[spec.design.kind]


def _varies(y: np.ndarray) -> bool:
    """A KPI with a value at every point that is not the same everywhere (else no index exists)."""
    return bool(np.all(np.isfinite(y)) and np.ptp(y) > 0)


def _kinds(spec: Any) -> dict[str, str]:
    return {**{p.path: "lever" for p in spec.levers}, **{p.path: "uncertainty" for p in spec.uncertainties}}


def _verdict(kpi: str, half_width: np.ndarray, allowed: np.ndarray, n: int, names: list[str],
             power_of_two: bool) -> dict:
    ratio = np.asarray(half_width, dtype=float) / allowed
    worst = int(np.nanargmax(ratio))
    enough = bool(np.nanmax(ratio) <= 1.0)
    needed = n * float(np.nanmax(ratio)) ** 2
    suggested = n if enough else (1 << max(0, math.ceil(math.log2(max(needed, 1)))) if power_of_two
                                  else math.ceil(needed))
    return {"kpi": kpi, "n": n, "converged": enough, "worst_parameter": names[worst],
            "half_width_over_allowed": float(ratio[worst]), "suggested_n": suggested}

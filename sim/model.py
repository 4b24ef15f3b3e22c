"""MarketModel: one Mesa step is one day; inside it SimPy advances from t to t+1.

`MarketModel.step` is the ODD process overview: the order of a day is written out there
once, and every rule it calls lives in the module named for it (shopper behaviour in
agents/shopper.py, choice in sim/choice.py, orders in sim/orders.py, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mesa
import numpy as np
import simpy

from agents.merchant import (
    QUARTER_DAYS,
    Merchant,
    MerchantTable,
    append_rows,
    build_merchants,
    record_demand,
    replenishment_orders,
    stock_to_expected_demand,
)
from agents.platform import Platform
from agents.shopper import ShopperPopulation
from agents.supplier import Lot, Supplier
from sim.acquisition import joiners, paid_join_probability
from sim.bgnbd import expected_spend
from sim.choice import cumulative_table, logit_weights
from sim.config import Scenario
from sim.ledger import Ledger
from sim.metrics import DailyRecorder
from sim.orders import Market, place_orders
from sim.policies import build_policies
from sim.rng import Streams
from sim.seasonality import daily_multipliers, month_ends


@dataclass
class UnitCounters:
    """Units through the chain: produced = in transit + received; initial + received = sold + on hand + written off."""

    initial: int = 0
    produced: int = 0
    received: int = 0
    sold: int = 0
    written_off: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class MarketModel(mesa.Model):
    """The marketplace: shoppers (columns), merchants, suppliers and the platform."""

    def __init__(self, scenario: Scenario) -> None:
        self.streams = Streams(scenario.seed)
        super().__init__(rng=self.streams.generator("mesa"))
        self.scenario = scenario
        cfg = scenario
        self.days = cfg.simulation.days
        self.day = 0
        self.env = simpy.Environment()
        self.ledger = Ledger()
        self.units = UnitCounters()

        cats = cfg.catalog.categories
        self.n_categories = len(cats)
        share = np.array([c.demand_share for c in cats])
        self.demand_share = share / share.sum()
        self.price_level = np.array([c.price_level for c in cats])

        # Shoppers: heterogeneity and the daily noise come from their own streams.
        self.shoppers = ShopperPopulation(
            cfg.shoppers, self.streams.generator("shoppers"), self.streams.generator("shopper_history")
        )
        self._daily_draws = self.streams.generator("shopper_days")
        segs = cfg.shoppers.segments
        cat_names = [c.name for c in cats]
        prefs = np.array([[s.category_preferences.get(n, 1.0) for n in cat_names] for s in segs])
        self.category_cum, self.category_support = cumulative_table(self.demand_share[None, :] * prefs)
        self._category_probs = np.diff(np.c_[np.zeros(len(segs)), self.category_cum], axis=1)
        self.price_sensitivity = np.array([s.price_sensitivity for s in segs])
        self.green_preference = np.array([s.green_preference for s in segs])

        gg = cfg.shoppers.spend
        seg_shares = np.array([s.share for s in segs])
        mean_mult = float(seg_shares @ np.array([s.spend_multiplier for s in segs]))
        self.mean_order_value = expected_spend(gg.p, gg.q, gg.gamma) * mean_mult
        self.base_unit_cost = cfg.catalog.cogs_share * self.mean_order_value * self.price_level

        self._build_suppliers()
        self.merchant_table = self._new_merchants(cfg.merchants.count, day=0)
        self.merchant_agents: list[Merchant] = [Merchant(self, row) for row in range(cfg.merchants.count)]
        self._refresh_choice()
        expected = self._expected_cell_demand()
        stock_to_expected_demand(self.merchant_table, np.arange(cfg.merchants.count), expected, cfg.merchants)
        self.units.initial = int(self.merchant_table.on_hand.sum())
        self.opening_inventory_value = float((self.merchant_table.on_hand * self.merchant_table.unit_cost).sum())

        self.platform = Platform(self, cfg.platform, build_policies(cfg.policies), self.ledger)
        self.season = daily_multipliers(cfg.seasonality, cfg.simulation.start_date, self.days)
        self.is_month_end = month_ends(cfg.simulation.start_date, self.days)
        self.recorder = DailyRecorder(self)
        self._entry_rng = self.streams.generator("merchant_entry")

    # --- set-up helpers ---------------------------------------------------------------------

    def _build_suppliers(self) -> None:
        cfg = self.scenario.suppliers
        rng = self.streams.generator("suppliers")
        n, n_cat = cfg.count, self.n_categories
        cost = np.exp(rng.normal(0.0, cfg.unit_cost_sd, n))
        quality = np.clip(rng.normal(cfg.quality_mean, 0.05, n), 0.0, 1.0)
        distance = rng.exponential(cfg.distance_km_mean, n)
        green = rng.random(n) < cfg.green_certified_share
        supplies = np.zeros((n, n_cat), dtype=bool)
        supplies[np.arange(n), np.arange(n) % n_cat] = True
        second = rng.integers(0, n_cat, n)
        supplies[np.arange(n), second] |= rng.random(n) < 0.5
        for c in range(n_cat):  # every category has at least one supplier
            if not supplies[:, c].any():
                supplies[c % n, c] = True
        self.supplier_cost_factor = cost
        self.suppliers_by_category = [np.flatnonzero(supplies[:, c]) for c in range(n_cat)]
        self.suppliers: list[Supplier] = [
            Supplier(self, i, np.flatnonzero(supplies[i]), float(cost[i]), float(quality[i]),
                     cfg.carbon_kg_per_unit, float(distance[i]), cfg.transport_mode, bool(green[i]))
            for i in range(n)
        ]

    def _new_merchants(self, n: int, day: int) -> MerchantTable:
        return build_merchants(
            self.scenario.merchants, self.n_categories, self.demand_share, self.base_unit_cost,
            self.suppliers_by_category, self.supplier_cost_factor,
            self.streams.generator(f"merchants/{day}"), n, day,
        )

    def _refresh_choice(self) -> None:
        """Multinomial-logit weights per (segment x category, merchant); after rating/entry/exit changes."""
        t, w = self.merchant_table, self.scenario.choice
        base = (w.rating_weight * t.rating - w.delivery_weight * t.delivery_days
                + w.ad_weight * np.log1p(t.ad_spend_month / 100.0))
        utility = (base[None, :]
                   - self.price_sensitivity[:, None] * np.log(t.price_index)[None, :]
                   + w.green_weight * self.green_preference[:, None] * t.green_label[None, :])
        n_seg = utility.shape[0]
        avail = (t.carries & t.active[:, None]).T  # (categories, merchants)
        util = np.repeat(utility, self.n_categories, axis=0)  # row s*C + c
        self.merchant_weights = logit_weights(util, np.tile(avail, (n_seg, 1)))

    def _expected_cell_demand(self) -> np.ndarray:
        """Expected daily orders per (merchant, category) at the start (for opening stock)."""
        sh, acq = self.shoppers, self.scenario.acquisition
        alive = sh.alive
        n_seg = self.category_cum.shape[0]
        per_seg = np.bincount(sh.segment[alive], weights=-np.expm1(-sh.rate_weekly[alive] / 7.0),
                              minlength=n_seg)
        prospects = ~sh.is_customer
        p_join = acq.innovation_p + acq.imitation_q * sh.is_customer.mean() + paid_join_probability(
            self.scenario.platform.marketing_spend_per_day, acq.paid_cac, int(prospects.sum()))
        per_seg = per_seg + p_join * np.bincount(sh.segment[prospects], minlength=n_seg)
        w = self.merchant_weights
        probs = w / np.where(w.sum(axis=1, keepdims=True) > 0, w.sum(axis=1, keepdims=True), 1.0)
        seg_cat = (per_seg[:, None] * self._category_probs).reshape(-1)  # row s*C + c
        cell = (seg_cat[:, None] * probs).reshape(n_seg, self.n_categories, -1).sum(axis=0)
        return cell.T  # (merchants, categories)

    # --- the day --------------------------------------------------------------------------------

    def step(self) -> None:
        """One day, in the order of the ODD process overview (docs/model.md)."""
        d, sh, cfg = self.day, self.shoppers, self.scenario
        self._receive_due(d)  # lots due at the start of the day reach the shelves

        # 1. policies' day start, marketing and fixed costs; the day's seasonal multiplier
        marketing = self.platform.day_start(d)
        draws = sh.draws(self._daily_draws)

        # 2. acquisition: prospects join (paid + organic + word of mouth); joining is the first order
        prospects = ~sh.is_customer
        p_paid = paid_join_probability(marketing, cfg.acquisition.paid_cac, int(prospects.sum()))
        adopted = float(sh.is_customer.mean())
        new, channel = joiners(prospects, draws.join, cfg.acquisition, p_paid, adopted)

        # 3. purchases by alive customers: propensity x season x experience x policies
        rate_mult = self.season[d] * sh.experience_rate_multiplier() * self.platform.purchase_multiplier(d)
        repeaters = sh.repeat_buyers(d, draws.buy, rate_mult)
        sh.join(d, new, channel)

        # 4. orders: category, merchant by logit, stock check, value; money booked
        buyers = np.concatenate([new, repeaters])
        is_first = np.r_[np.ones(new.size, bool), np.zeros(repeaters.size, bool)]
        demand = np.zeros((self.merchant_table.size, self.n_categories))
        orders = place_orders(self._market(), buyers, is_first, sh.order_spend(buyers, draws.spend),
                              draws.category, draws.merchant, draws.fallback, draws.priority, demand)
        commission = self.platform.settle_orders(d, orders)
        served = orders.fulfilled
        sh.record_orders(d, buyers[served])
        self.units.sold += int(served.sum())
        if cfg.merchants.unlimited_stock:
            self._make_to_order(orders)
        t = self.merchant_table
        m_served = orders.merchant[served]
        cogs = t.unit_cost[m_served, orders.category[served]]
        # Accrual profit: net sales less the cost of the units sold (stock is an asset until sold).
        profit_today = np.bincount(m_served, weights=orders.value[served] - commission[served] - cogs,
                                   minlength=t.size).astype(np.float64)  # int64 on a day without sales
        chosen = np.maximum(orders.first_choice, 0)
        t.outcome_sum += np.bincount(chosen, weights=orders.outcome * (orders.first_choice >= 0), minlength=t.size)
        t.outcome_n += np.bincount(chosen, weights=(orders.first_choice >= 0).astype(float), minlength=t.size)

        # 5. logistics: parcels to the last mile (supply-chain issue); promised days for now
        # 6. SimPy runs to t+1: shipments in continuous time
        self.env.run(until=d + 1)

        # 7. experience: satisfaction, dropout after repeat purchases (lifecycle follows recency)
        sh.update_satisfaction(orders.shopper, orders.outcome)
        sh.dropouts(d, repeaters, draws.drop, self.platform.dropout_multiplier(d))

        # 8. merchants: costs of the day, forecast, replenishment orders to suppliers
        profit_today -= self._merchant_costs()
        record_demand(t, demand)
        self._replenish(d)
        t.profit_month += profit_today
        t.profit_days[d % QUARTER_DAYS] = profit_today

        # 9. month end (policies, ratings, merchant exit and entry), then the day's row of KPIs
        if self.is_month_end[d]:
            self._month_end(d)
        self.recorder.record(d, orders, demand, profit_today, channel)
        self.day += 1

    def run(self, progress: bool = False) -> None:
        """Run every day of the scenario (progress bar on request)."""
        from tqdm import tqdm

        for _ in tqdm(range(self.days), disable=not progress, desc=self.scenario.name, unit="day",
                      leave=False):
            self.step()

    # --- pieces of the day ----------------------------------------------------------------------

    def _market(self) -> Market:
        t, sc = self.merchant_table, self.scenario
        return Market(
            segment=self.shoppers.segment, category_cum=self.category_cum,
            category_support=self.category_support, merchant_weights=self.merchant_weights,
            on_hand=t.on_hand, unlimited_stock=sc.merchants.unlimited_stock,
            fallback=sc.shoppers.stockout_behaviour == "fallback", price_level=self.price_level,
            price_index=t.price_index, fallback_outcome=sc.shoppers.experience.fallback_outcome,
            stockout_outcome=sc.shoppers.experience.stockout_outcome,
        )

    def _make_to_order(self, orders) -> None:
        """Unlimited stock: each unit sold is produced and received the moment it is sold."""
        served = orders.fulfilled
        t = self.merchant_table
        n = int(served.sum())
        self.units.produced += n
        self.units.received += n
        self.ledger.post("goods", float(t.unit_cost[orders.merchant[served], orders.category[served]].sum()))

    def _merchant_costs(self) -> np.ndarray:
        """Holding, fixed and ad costs of the day per merchant, booked to the ledger."""
        t, mc = self.merchant_table, self.scenario.merchants
        holding = (t.on_hand * t.unit_cost).sum(axis=1) * mc.holding_cost_rate_per_year / 365.0
        fixed = np.where(t.active, mc.fixed_cost_per_month * 12.0 / 365.0, 0.0)
        ads = np.where(t.active, t.ad_spend_month * 12.0 / 365.0, 0.0)
        self.ledger.post("holding", float(holding.sum()))
        self.ledger.post("merchant_fixed", float(fixed.sum()))
        self.ledger.post("ad_fees", float(ads.sum()))
        return holding + fixed + ads

    def _replenish(self, d: int) -> None:
        """Place the day's replenishment orders, one lot per supplier; goods are paid on dispatch."""
        t, mc = self.merchant_table, self.scenario.merchants
        if mc.unlimited_stock:
            self.recorder.units_ordered_today = 0
            return
        qty = replenishment_orders(t, mc)
        m, c = np.nonzero(qty)
        units = qty[m, c]
        t.on_order[m, c] += units
        self.ledger.post("goods", float((units * t.unit_cost[m, c]).sum()))
        self.units.produced += int(units.sum())
        self.recorder.units_ordered_today = int(units.sum())
        sup = t.supplier[m, c]
        order = np.argsort(sup, kind="stable")
        m, c, units, sup = m[order], c[order], units[order], sup[order]
        bounds = np.flatnonzero(np.diff(sup)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, sup.size]):  # one lot per supplier
            if hi > lo:
                lot = Lot(m[lo:hi], c[lo:hi], units[lo:hi], d)
                self.suppliers[sup[lo]].ship(self.env, lot, mc.replenishment.lead_time_days, self._receive)

    def _receive(self, lot: Lot) -> None:
        t = self.merchant_table
        np.add.at(t.on_hand, (lot.merchant, lot.category), lot.units)
        np.subtract.at(t.on_order, (lot.merchant, lot.category), lot.units)
        self.units.received += lot.total_units
        gone = ~t.active[lot.merchant]
        if gone.any():  # arrived for a merchant who has left: written off
            self.write_off_stock(np.unique(lot.merchant[gone]))

    def _receive_due(self, d: int) -> None:
        """Process SimPy events at exactly the day boundary d (start of day d)."""
        while self.env.peek() <= d:
            self.env.step()

    def write_off_stock(self, rows: int | np.ndarray) -> None:
        """A departed merchant's stock is lost to the market: a loss in merchant profit."""
        t = self.merchant_table
        self.units.written_off += int(t.on_hand[rows].sum())
        self.recorder.written_off_value_today += float((t.on_hand[rows] * t.unit_cost[rows]).sum())
        t.on_hand[rows] = 0

    def _month_end(self, d: int) -> None:
        t, mc = self.merchant_table, self.scenario.merchants
        self.platform.month_end(d)
        seen = t.outcome_n > 0
        month_outcome = np.where(seen, t.outcome_sum / np.maximum(t.outcome_n, 1), 1.0)
        target = 1.0 + 4.0 * t.quality * month_outcome
        t.rating = np.where(seen, 0.7 * t.rating + 0.3 * target, t.rating)
        t.loss_streak = np.where(t.active & (t.profit_month < 0), t.loss_streak + 1, 0)
        for row in np.flatnonzero(t.active & (t.loss_streak >= mc.exit_after_loss_months)):
            self.merchant_agents[row].leave()
        self._merchant_entry(d)
        t = self.merchant_table
        t.profit_month[:] = 0.0
        t.outcome_sum[:] = 0.0
        t.outcome_n[:] = 0.0
        self._refresh_choice()

    def _merchant_entry(self, d: int) -> None:
        """Two-sided network effect: merchants join when trailing profit on the platform pays."""
        t, entry = self.merchant_table, self.scenario.merchants.entry
        active = np.flatnonzero(t.active)
        if active.size == 0 or t.size >= entry.max_count:
            return
        mean_profit = float(t.profit_days[:, active].sum(axis=0).mean())
        if mean_profit <= entry.profit_threshold:
            return
        expected = entry.monthly_rate * active.size
        n_new = int(np.floor(expected + self._entry_rng.random()))
        n_new = min(n_new, entry.max_count - t.size)
        if n_new <= 0:
            return
        extra = self._new_merchants(n_new, day=d + 1)
        # Opening stock: the recent average demand of a merchant carrying the same category.
        carriers = t.carries & t.active[:, None]
        recent = t.demand_history.mean(axis=0)
        per_cat = (recent * carriers).sum(axis=0) / np.maximum(carriers.sum(axis=0), 1)
        rows = np.arange(n_new)
        stock_to_expected_demand(extra, rows, extra.carries * per_cat[None, :], self.scenario.merchants)
        self.units.initial += int(extra.on_hand.sum())
        self.opening_inventory_value += float((extra.on_hand * extra.unit_cost).sum())
        extra.history_pos, extra.days_of_history = t.history_pos, t.days_of_history
        first = t.size
        self.merchant_table = append_rows(t, extra)
        self.merchant_agents += [Merchant(self, first + i) for i in range(n_new)]
        self.recorder.merchants_joined += n_new

    def inventory_value(self) -> float:
        """Merchants' stock at unit cost: on hand plus paid-for lots in transit [currency]."""
        t = self.merchant_table
        value = float((t.on_hand * t.unit_cost).sum())
        for s in self.suppliers:
            for lot in s.in_transit:
                value += float((lot.units * t.unit_cost[lot.merchant, lot.category]).sum())
        return value

    # --- checks -------------------------------------------------------------------------------------

    def unit_balance(self) -> dict[str, int]:
        """The unit identities of DESIGN.md section 2, with both sides."""
        in_transit = sum(s.units_in_transit for s in self.suppliers)  # counted from the lots
        on_hand = int(self.merchant_table.on_hand.sum())
        u = self.units
        return {
            "produced": u.produced, "in_transit": in_transit, "received": u.received,
            "initial": u.initial, "sold": u.sold, "on_hand": on_hand, "written_off": u.written_off,
        }

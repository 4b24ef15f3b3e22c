"""MarketModel: one Mesa step is one day; inside it SimPy advances from t to t+1.

`MarketModel.step` is the ODD process overview: the order of a day is written out there
once, and every rule it calls lives in the module named for it (shopper behaviour in
agents/shopper.py, choice in sim/choice.py, orders in sim/orders.py, the upstream chain in
sim/supply_chain.py, the last mile in sim/logistics.py, returns in sim/returns.py, ...).
"""

from __future__ import annotations

import time

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
    stock_to_expected_demand,
)
from agents.platform import Platform
from agents.shopper import DailyDraws, ShopperPopulation
from sim.acquisition import joiners, paid_join_probability
from sim.bgnbd import expected_spend
from sim.carbon import CarbonTally, load_factors
from sim.choice import cumulative_table, logit_weights
from sim.config import Scenario
from sim.ledger import Ledger
from sim.logistics import LastMile, build_fleet
from sim.metrics import DailyRecorder
from sim.network import build_network
from sim.orders import Market, OrderBatch, place_orders
from sim.policies import build_policies
from sim.returns import ReturnBatch, ReturnsBook, return_probability
from sim.rng import Streams
from sim.seasonality import daily_multipliers, month_ends
from sim.supply_chain import SupplyChain


class MarketModel(mesa.Model):
    """The marketplace: shoppers (columns), merchants, suppliers, the last mile and the platform."""

    def __init__(self, scenario: Scenario) -> None:
        self.streams = Streams(scenario.seed)
        super().__init__(rng=self.streams.generator("mesa"))
        self.scenario = scenario
        cfg = scenario
        self.days = cfg.simulation.days
        self.day = 0
        self.env = simpy.Environment()
        self.ledger = Ledger()
        self.factors = load_factors(cfg.carbon.factors_file)
        self.carbon = CarbonTally()

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
        started = time.perf_counter()
        self.network = build_network(cfg.network, cfg.shoppers.count, self.shoppers.segment,
                                     self.streams.generator("network"))
        self.network_build_seconds = time.perf_counter() - started
        regions = cfg.logistics.regions
        self.shopper_region = self.streams.generator("regions").choice(
            len(regions), size=cfg.shoppers.count, p=np.array([r.share for r in regions]))
        segs = cfg.shoppers.segments
        cat_names = [c.name for c in cats]
        prefs = self.demand_share[None, :] * np.array([[s.category_preferences.get(n, 1.0) for n in cat_names]
                                                       for s in segs])
        self.segment_prefs = prefs / prefs.sum(axis=1, keepdims=True)
        # how far a segment's own category preferences are from plain popularity (total variation)
        self.niche = 0.5 * np.abs(self.segment_prefs - self.demand_share[None, :]).sum(axis=1)
        self.personalisation = cfg.choice.personalisation  # today's level; the recommendation policy moves it
        self._set_category_table()
        self.price_sensitivity = np.array([s.price_sensitivity for s in segs])
        self.green_preference = np.array([s.green_preference for s in segs])

        gg = cfg.shoppers.spend
        seg_shares = np.array([s.share for s in segs])
        mean_mult = float(seg_shares @ np.array([s.spend_multiplier for s in segs]))
        self.mean_order_value = expected_spend(gg.p, gg.q, gg.gamma) * mean_mult
        self.base_unit_cost = cfg.catalog.cogs_share * self.mean_order_value * self.price_level

        self.supply = SupplyChain(self)
        self.platform = Platform(self, cfg.platform, build_policies(cfg.policies), self.ledger)
        self._profit_adjust = np.zeros(cfg.merchants.count)
        self.merchant_table = self._new_merchants(cfg.merchants.count, day=0)
        self.merchant_agents: list[Merchant] = [Merchant(self, row) for row in range(cfg.merchants.count)]
        self.platform_delay = 0.0  # extra days platform-fulfilled delivery takes now (seen in choice)
        self._refresh_choice()
        expected = self._expected_cell_demand()
        stock_to_expected_demand(self.merchant_table, np.arange(cfg.merchants.count), expected, cfg.merchants)
        self._refresh_choice()  # the popularity term of ranking now sees the opening demand
        self.supply.units.initial = int(self.merchant_table.on_hand.sum())
        self.opening_inventory_value = float((self.merchant_table.on_hand * self.merchant_table.unit_cost).sum())

        platform_parcels = float(expected[self.merchant_table.platform_fulfilled].sum())
        fleet = build_fleet(cfg.logistics, self.factors, platform_parcels * np.array([r.share for r in regions]),
                            cfg.logistics.fleet)
        self.last_mile = LastMile(self.env, cfg.logistics, self.factors, fleet, self.ledger, self.carbon)
        self.returns = ReturnsBook(cfg.returns)
        self.season = daily_multipliers(cfg.seasonality, cfg.simulation.start_date, self.days)
        self.is_month_end = month_ends(cfg.simulation.start_date, self.days)
        self._entry_rng = self.streams.generator("merchant_entry")
        self.recorder = DailyRecorder(self)
        self.platform.setup()  # policies adjust fleet, packaging, assortment, ... before day 0
        self._set_platform_delay()

    # --- set-up helpers ---------------------------------------------------------------------

    def _new_merchants(self, n: int, day: int, uniform_categories: bool = False) -> MerchantTable:
        weights = np.full(self.n_categories, 1.0 / self.n_categories) if uniform_categories else self.demand_share
        stream = f"merchants/{day}" + ("/longtail" if uniform_categories else "")
        table = build_merchants(
            self.scenario.merchants, self.n_categories, weights, self.base_unit_cost,
            self.supply.by_category, self.supply.cost_factor, self.streams.generator(stream), n, day,
        )
        self.platform.merchants_created(table)  # before stocking: policies may change suppliers
        return table

    def _set_category_table(self) -> None:
        """Category choice per segment: personalisation x own preferences + the rest x popularity."""
        p = self.personalisation
        mix = p * self.segment_prefs + (1.0 - p) * self.demand_share[None, :]
        self.category_cum, self.category_support = cumulative_table(mix)
        self._category_probs = np.diff(np.c_[np.zeros(mix.shape[0]), self.category_cum], axis=1)
        # conversion of niche segments follows the change of personalisation from today's level
        change = self.scenario.choice.match_sensitivity * (p - self.scenario.choice.personalisation) * self.niche
        self.match_multiplier = (1.0 + change)[self.shoppers.segment]

    def set_personalisation(self, level: float) -> None:
        """A new personalisation level (the recommendation policy): category choice, conversion, ranking."""
        if float(level) == self.personalisation:
            return
        self.personalisation = float(level)
        self._set_category_table()
        self._refresh_choice()

    def _refresh_choice(self) -> None:
        """Multinomial-logit weights per (segment x category, merchant); after rating/entry/exit/delay changes."""
        t, w = self.merchant_table, self.scenario.choice
        delivery_seen = t.delivery_days + t.platform_fulfilled * self.platform_delay
        base = (w.rating_weight * t.rating - w.delivery_weight * delivery_seen
                + w.ad_weight * np.log1p(t.ad_spend_month / 100.0))
        if w.popularity_weight > 0 and self.personalisation < 1:  # popularity ranking: the rich get richer
            sales = t.demand_history.sum(axis=(0, 2))
            share = sales / max(float(sales.sum()), 1e-12)
            base = base + w.popularity_weight * (1.0 - self.personalisation) * np.log(share + 1e-3)
        utility = (base[None, :]
                   - self.price_sensitivity[:, None] * np.log(t.price_index)[None, :]
                   + w.green_weight * self.green_preference[:, None] * t.green_label[None, :])
        n_seg = utility.shape[0]
        avail = (t.carries & t.active[:, None]).T  # (categories, merchants)
        util = np.repeat(utility, self.n_categories, axis=0)  # row s*C + c
        self.merchant_weights = logit_weights(util, np.tile(avail, (n_seg, 1)))

    def _set_platform_delay(self) -> None:
        """Platform-fulfilled delivery as shoppers see it now: consolidation days + the fleet's backlog."""
        delay = self.last_mile.extra_days + self.last_mile.expected_wait()
        if delay != self.platform_delay:
            self.platform_delay = delay
            self._refresh_choice()

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
        self._profit_adjust = np.zeros(self.merchant_table.size)  # costs and credits booked outside orders
        self.supply.receive_due(d)  # lots due at the start of the day reach the shelves
        self._process_returns(d)

        # 1. policies' day start, marketing and fixed costs; the day's seasonal multiplier
        marketing = self.platform.day_start(d)
        draws = sh.draws(self._daily_draws)

        # 2. acquisition: prospects join (paid + organic + word of mouth); joining is the first order
        prospects = ~sh.is_customer
        p_paid = paid_join_probability(marketing, cfg.acquisition.paid_cac, int(prospects.sum()))
        adopted = self.network.share(sh.is_customer)
        new, channel = joiners(prospects, draws.join, cfg.acquisition, p_paid, adopted,
                               self.platform.join_probability(d))
        self.platform.on_joins(d, new, channel)

        # 3. purchases by alive customers: propensity x season x experience x policies
        rate_mult = (self.season[d] * sh.experience_rate_multiplier() * self.match_multiplier
                     * self.platform.purchase_multiplier(d))
        self.draws_today, self.rate_multiplier_today = draws, rate_mult  # read by policies (counterfactuals)
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
        repeat_served = buyers[served & ~is_first]
        reactivated = int(np.count_nonzero(d - sh.last_day[repeat_served]
                                           >= cfg.shoppers.lifecycle.dormant_after_days))
        sh.record_orders(d, buyers[served])
        self.supply.units.sold += int(served.sum())
        t = self.merchant_table
        m_served, c_served = orders.merchant[served], orders.category[served]
        if cfg.merchants.unlimited_stock:
            self.supply.make_to_order(m_served, c_served)
        cogs = t.unit_cost[m_served, c_served]
        # Accrual profit: net sales less the cost of the units sold (stock is an asset until sold).
        profit_today = np.bincount(m_served, weights=orders.value[served] - commission[served] - cogs,
                                   minlength=t.size).astype(np.float64)  # int64 on a day without sales

        # 5. logistics: parcels to the last mile (waits known now: FIFO), returns decided
        delivery = self._ship_orders(d, orders, commission, draws)
        delivery["reactivated"] = reactivated

        # 6. SimPy runs to t+1: production, shipments, delivery waves
        self.env.run(until=d + 1)

        # 7. experience: satisfaction, ratings' inputs, dropout after repeat purchases
        sh.update_satisfaction(orders.shopper, orders.outcome)
        # the outcome counts for the shopper's first choice: its stock-out caused any fallback
        # (a fell-back order that is also late or returned is rare; it too counts there)
        rated = orders.first_choice
        seen = rated >= 0
        t.outcome_sum += np.bincount(rated[seen], weights=orders.outcome[seen], minlength=t.size)
        t.outcome_n += np.bincount(rated[seen], minlength=t.size).astype(float)
        sh.dropouts(d, repeaters, draws.drop, self.platform.dropout_multiplier(d))

        # 8. merchants: costs of the day, forecast, replenishment orders to suppliers
        profit_today -= self._merchant_costs()
        record_demand(t, demand)
        profit_today -= self.supply.replenish(d)
        profit_today += self._profit_adjust
        t.profit_month += profit_today
        t.profit_days[d % QUARTER_DAYS] = profit_today

        # 9. policies' day end, month end (ratings, exit and entry), then the day's row of KPIs
        self.platform.day_end(d)
        if self.is_month_end[d]:
            self._month_end(d)
        self.recorder.record(d, orders, demand, profit_today, channel, delivery)
        self.last_mile.end_day()
        self._set_platform_delay()
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

    def _ship_orders(self, d: int, orders: OrderBatch, commission: np.ndarray, draws: DailyDraws) -> dict:
        """Hand served orders to the last mile; decide late deliveries and returns; book carbon and fees."""
        t, cfg, lm = self.merchant_table, self.scenario, self.last_mile
        served = np.flatnonzero(orders.fulfilled)
        m, c = orders.merchant[served], orders.category[served]
        shopper = orders.shopper[served]
        region = self.shopper_region[shopper]
        by_platform = t.platform_fulfilled[m]
        wait = np.zeros(served.size, dtype=np.int64)
        wait[by_platform] = lm.hand_over(region[by_platform], draws.priority[shopper[by_platform]])
        days = t.delivery_days[m] + np.where(by_platform, lm.extra_days + wait, 0)
        late = wait > 0
        # carbon and costs of the parcels: warehousing per order, packaging per parcel, carrier km
        self.carbon.add("warehousing", served.size * self.factors("warehousing", "default"))
        own = ~by_platform
        self.ledger.post("logistics", lm.package(int(by_platform.sum())))
        fee = cfg.logistics.fulfilment_fee_per_parcel
        self.ledger.post("fulfilment_fee", fee * int(by_platform.sum()))
        self.charge_merchants(m[by_platform], np.full(int(by_platform.sum()), fee))
        carrier_fees = lm.carrier_parcels(region[own])
        packaging_own = lm.package(int(own.sum()))
        self.ledger.post("shipping", carrier_fees + packaging_own)
        per_parcel = (carrier_fees + packaging_own) / max(int(own.sum()), 1)
        self.charge_merchants(m[own], np.full(int(own.sum()), per_parcel))
        # returns: decided now from the shopper's uniform of the day, refunded later
        supplier_quality = self.supply.quality[t.supplier[m, c]]
        p_return = return_probability(cfg.returns, t.quality[m], supplier_quality)
        returned, restock = self.returns.decide(draws.ret[shopper], p_return)
        self.returns.schedule(d, ReturnBatch(m[returned], c[returned], region[returned],
                                             orders.value[served][returned], commission[served][returned],
                                             restock[returned]))
        exp = cfg.shoppers.experience
        outcome = orders.outcome[served]
        outcome = np.where(late, np.minimum(outcome, exp.late_outcome), outcome)
        orders.outcome[served] = np.where(returned, np.minimum(outcome, exp.return_outcome), outcome)
        return {"delivery_days": float(days.sum()), "late": int(late.sum()), "returns_decided": int(returned.sum()),
                "platform_parcels": int(by_platform.sum())}

    def _process_returns(self, d: int) -> None:
        """Returns due today: refund, commission back, restock or scrap, reverse logistics."""
        batch = self.returns.due(d)
        self.returns_due_today = 0
        if batch is None:
            return
        t = self.merchant_table
        self.ledger.post("refund", float(batch.value.sum()))
        self.ledger.post("commission_refund", float(batch.commission.sum()))
        self.ledger.post("logistics", self.last_mile.reverse(batch.region))
        self.charge_merchants(batch.merchant, batch.value - batch.commission)
        rows, cats = batch.merchant[batch.restock], batch.category[batch.restock]
        self.supply.units.restocked += int(rows.size)
        active = t.active[rows] & t.carries[rows, cats]  # a left merchant or a delisted range: scrapped
        np.add.at(t.on_hand, (rows[active], cats[active]), 1)
        # a restocked unit is inventory again: its cost comes back out of cost of goods sold
        self.charge_merchants(rows[active], -t.unit_cost[rows[active], cats[active]])
        self.supply.units.written_off += int((~active).sum())
        self.returns_due_today = batch.size

    def charge_merchants(self, merchants: np.ndarray, amounts: np.ndarray) -> None:
        """Costs (or, negative, credits) of merchants booked outside the order flow; enter today's profit."""
        if merchants.size:
            adjust = np.bincount(merchants, weights=amounts, minlength=self.merchant_table.size)
            if adjust.size > self._profit_adjust.size:  # merchants joined since the day began
                self._profit_adjust = np.r_[self._profit_adjust, np.zeros(adjust.size - self._profit_adjust.size)]
            self._profit_adjust[: adjust.size] -= adjust

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

    def write_off_cells(self, rows: np.ndarray, cats: np.ndarray) -> None:
        """Stock of single (merchant, category) cells is written off (e.g. a delisted range)."""
        t = self.merchant_table
        value = t.on_hand[rows, cats] * t.unit_cost[rows, cats]
        self.supply.units.written_off += int(t.on_hand[rows, cats].sum())
        self.recorder.written_off_value_today += float(value.sum())
        # the loss is the merchant's own: it counts towards its month, its quarter and its exit
        loss = np.bincount(rows, weights=value, minlength=t.size)
        t.profit_month -= loss
        t.profit_days[self.day % QUARTER_DAYS] -= loss
        t.on_hand[rows, cats] = 0

    def write_off_stock(self, rows: int | np.ndarray) -> None:
        """A departed merchant's stock is lost to the market: a loss in merchant profit."""
        t = self.merchant_table
        self.supply.units.written_off += int(t.on_hand[rows].sum())
        self.recorder.written_off_value_today += float((t.on_hand[rows] * t.unit_cost[rows]).sum())
        t.on_hand[rows] = 0

    def _month_end(self, d: int) -> None:
        t, mc = self.merchant_table, self.scenario.merchants
        self.platform.month_end(d)
        if self.scenario.logistics.resize_monthly:
            self.last_mile.resize()
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
        self._add_merchants(self._new_merchants(n_new, day=d + 1))

    def onboard_merchants(self, n: int, uniform_categories: bool = False) -> None:
        """Merchants brought on board by a policy (e.g. the long tail), stocked like entrants."""
        self._add_merchants(self._new_merchants(n, day=self.day, uniform_categories=uniform_categories))
        self._refresh_choice()

    def _add_merchants(self, extra: MerchantTable) -> None:
        """Append new merchants, stocked for the recent demand of their categories."""
        t, n_new = self.merchant_table, extra.size
        # Opening stock: the recent average demand of a merchant carrying the same category.
        carriers = t.carries & t.active[:, None]
        recent = t.demand_history.mean(axis=0)
        per_cat = (recent * carriers).sum(axis=0) / np.maximum(carriers.sum(axis=0), 1)
        rows = np.arange(n_new)
        stock_to_expected_demand(extra, rows, extra.carries * per_cat[None, :], self.scenario.merchants)
        self.supply.units.initial += int(extra.on_hand.sum())
        self.opening_inventory_value += float((extra.on_hand * extra.unit_cost).sum())
        extra.history_pos, extra.days_of_history = t.history_pos, t.days_of_history
        first = t.size
        self.merchant_table = append_rows(t, extra)
        self.merchant_agents += [Merchant(self, first + i) for i in range(n_new)]
        self.recorder.merchants_joined += n_new

    # --- stock and checks ---------------------------------------------------------------------------

    def inventory_value(self) -> float:
        """Merchants' stock at unit cost: on hand plus paid-for lots not yet received [currency]."""
        return self.supply.inventory_value(self.merchant_table)

    def unit_balance(self) -> dict[str, int]:
        """The unit identities of DESIGN.md section 2, with both sides."""
        return self.supply.unit_balance(self.merchant_table)

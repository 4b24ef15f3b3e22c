"""MarketModel: one Mesa step is one day; inside it SimPy advances from t to t+1.

`MarketModel.step` is the ODD process overview: the order of a day is written out there
once, and every rule it calls lives in the module named for it (shopper behaviour in
agents/shopper.py, merchants' books and lifecycle in agents/merchant.py, choice in
sim/choice.py, orders in sim/orders.py, the upstream chain in sim/supply_chain.py, the last
mile in sim/logistics.py, returns in sim/returns.py, policies in sim/policies/, KPIs in
sim/metrics.py).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import TYPE_CHECKING

import numpy as np
import simpy

from agents.merchant import Merchants, MerchantTable, Pricing, budget_for_expected_sales, build_merchants, record_demand
from agents.platform import Platform
from agents.shopper import DRAWS, PURCHASE_DRAWS, DailyDraws, ShopperPopulation, calendar_time_scale
from agents.supplier import build_suppliers
from sim.acquisition import (
    CHANNELS,
    JoinClocks,
    Recommending,
    joiners,
    paid_join_probability,
    recommenders,
    scenario_schedule,
    scheduled_joiners,
)
from sim.bgnbd import discounted_residual_transactions, expected_spend
from sim.carbon import CarbonTally, load_factors
from sim.choice import ChoiceModel, rival_gain
from sim.config import MerchantsConfig
from sim.kpis import CATALOGUE
from sim.ledger import CORE_FLOWS, Ledger
from sim.logistics import LastMile, build_fleet
from sim.mesa_core import Agent, Model
from sim.metrics import CohortRecorder, DailyRecorder, RunEnd
from sim.network import NeighbourCounts, build_network
from sim.orders import Market, OrderBatch, place_orders
from sim.policies import MarketChanges, PolicyContext, PolicySet, policy_flows, policy_kpis
from sim.returns import ReturnsBook
from sim.rng import Streams
from sim.scenario import Scenario
from sim.seasonality import daily_multipliers, month_ends
from sim.supply_chain import SupplyChain

if TYPE_CHECKING:
    import pandas as pd


class MarketModel(Model):
    """The marketplace: shoppers (columns), merchants, suppliers, the last mile, the platform and its policies."""

    def __init__(self, scenario: Scenario, log_orders: bool = False) -> None:
        self.streams = Streams(scenario.seed)
        # the measured period's served orders (day, shopper, value), kept only on request: `run --transactions`
        self.order_log: list[tuple[int, np.ndarray, np.ndarray]] | None = [] if log_orders else None
        super().__init__(rng=self.streams.generator("mesa"))
        self.scenario = cfg = scenario.at_sample()  # a sample of the platform: its share of merchants and money
        self.warmup = cfg.simulation.warmup_days  # days before the measured period
        self.days = self.warmup + cfg.simulation.days  # days simulated
        self.calendar_start = cfg.simulation.start_date - dt.timedelta(days=self.warmup)  # the first simulated day
        self.day = 0
        # first purchases per day when the scenario replays a cohort instead of Bass (None otherwise)
        self.schedule = scenario_schedule(cfg, cfg.name)
        self.env = simpy.Environment()
        self.ledger = Ledger({**CORE_FLOWS, **policy_flows()})
        self.factors = load_factors(cfg.carbon.factors_file)
        self.carbon = CarbonTally()
        cats, segs = cfg.catalog.categories, cfg.shoppers.segments
        self.n_categories = len(cats)
        self.price_level = np.array([c.price_level for c in cats])

        # Shoppers: heterogeneity and the daily noise come from their own streams.
        self.shoppers = ShopperPopulation(
            cfg.shoppers, self.streams.generator("shoppers"), self.streams.generator("shopper_history"),
            self.streams.counter("purchase_clock"))
        self._draw_streams = {name: self.streams.counter(f"shopper_days/{name}") for name in DRAWS}
        started = time.perf_counter()
        self.network = build_network(cfg.network, cfg.shoppers.count, self.shoppers.segment,
                                     self.streams.generator("network"))
        self.network_build_seconds = time.perf_counter() - started
        self.word_of_mouth = NeighbourCounts(self.network)  # recommenders among each shopper's neighbours
        self.recommending = Recommending(self.shoppers, cfg.acquisition, self.word_of_mouth)
        self.join_clocks = JoinClocks(np.flatnonzero(~self.shoppers.is_customer), self.shoppers.segment,
                                      len(segs), self.streams.counter("join_clock"))
        regions = cfg.logistics.regions
        self.shopper_region = self.streams.generator("regions").choice(
            len(regions), size=cfg.shoppers.count, p=np.array([r.share for r in regions]))
        self.choice = ChoiceModel(cfg.choice, segs, cats, self.shoppers.segment, cfg.shoppers.price_sensitivities(),
                                  cfg.rivals, cfg.catalog.listings_index / cfg.merchants.count)
        rivals_from = cfg.rivals.from_day
        self.rivals_move_day = 0 if rivals_from is None else self.warmup + rivals_from  # the simulated day

        gg = cfg.shoppers.spend
        seg_shares = np.array([s.share for s in segs])
        mean_mult = float(seg_shares @ np.array([s.spend_multiplier for s in segs]))
        mean_order_value = expected_spend(gg.p, gg.q, gg.gamma) * mean_mult
        self.order_value = mean_order_value * self.price_level  # expected order value per category
        lg = cfg.logistics
        ref = cfg.choice.reference
        self.reference_pricing = Pricing(self.order_value, cfg.catalog.cogs_share, ref.delivery_cost_self,
                                         ref.delivery_cost_platform)  # prices as in the calibrated market
        self.pricing = Pricing(self.order_value, cfg.catalog.cogs_share,
                               lg.carrier_cost_per_parcel + lg.packaging_types[lg.packaging].cost_per_parcel,
                               lg.fulfilment_fee_per_parcel, cfg.platform.take_rate,
                               (ref.take_rate, ref.delivery_cost_self, ref.delivery_cost_platform))

        suppliers = build_suppliers(cfg.suppliers, self.n_categories, self.factors("production", "default"),
                                    self.streams.generator("suppliers"))
        self.supply = SupplyChain(cfg.suppliers, suppliers, cfg.merchants,
                                  np.array([c.unit_weight_kg for c in cats]),
                                  self.factors("line_haul", cfg.suppliers.transport_mode), self.env, self.ledger,
                                  self.carbon, self.streams.generator("supplier_delays"), self)
        self.platform = Platform(self, cfg.platform, self.ledger)
        # a launch after a warm-up: the warm-up runs without the policies, which start on day 0 of the measurement
        self.launch_day = self.warmup if cfg.simulation.policies_start == "launch" else 0  # the simulated day
        self._policies_to_launch = PolicySet(cfg.policies, self.streams.generator)
        self.policies = self._policies_to_launch if self.launch_day == 0 else PolicySet.none()
        self.context = PolicyContext(cfg, self.shoppers, self.network, suppliers, self.ledger,
                                     self.choice.demand_share, self.price_level, self.choice.reference_probs)
        self.merchants = Merchants(cfg.merchants, self._new_merchants(cfg.merchants.count, day=0), self.ledger,
                                   self.order_value)
        self.choice.set_reference(self._todays_market(), 1.0 / cfg.merchants.count)
        if self.rivals_move_day == 0:
            self.choice.set_rival_gain(self._rival_gain())
        self.supply.deliver_to(self.merchants)
        expected = self._opening_demand()
        self.merchants.open(np.arange(cfg.merchants.count), expected)
        self.choice.refresh(self.merchants.table)  # the popularity term of ranking now sees the opening demand

        platform_parcels = float(expected[self.merchants.table.platform_fulfilled].sum())
        fleet = build_fleet(cfg.logistics, self.factors, platform_parcels * np.array([r.share for r in regions]),
                            cfg.logistics.fleet)
        self.last_mile = LastMile(self.env, cfg.logistics, self.factors, fleet, self.ledger, self.carbon)
        self.returns = ReturnsBook(cfg.returns, np.array([c.return_multiplier for c in cats]))
        self.served_by_category = np.zeros(self.n_categories, dtype=np.int64)
        self.season = daily_multipliers(cfg.seasonality, self.calendar_start, self.days)
        self.is_month_end = month_ends(self.calendar_start, self.days)
        self.cohorts = CohortRecorder(self.calendar_start, self.days, self.warmup)
        self._entry_rng = self.streams.generator("merchant_entry")
        self.recorder = DailyRecorder(self.ledger, [*CATALOGUE, *policy_kpis()])
        self.churn_at_risk_start = self._churn_counts(-1)[1]
        self.alive_start = int(self.shoppers.alive.sum())
        self.context.merchants = self.merchants.table
        self.context.choice = self.choice
        self.context.factors = self.factors
        for changes in self.policies.setup(self.context):  # policies adjust the market before day 0
            self._apply(changes)
        self.policies_launched = self.launch_day == 0
        self._see_platform_delay()
        self.residual_gmv_start = self.residual_gmv()  # replaced at the end of a warm-up

    # --- set-up helpers ---------------------------------------------------------------------

    def _draw_merchants(self, cfg: MerchantsConfig, n: int, day: int, uniform_categories: bool,
                        pricing: Pricing | None = None) -> MerchantTable:
        """`n` merchants from their own stream per day (the same draws whoever asks)."""
        share = self.choice.demand_share
        weights = np.full(self.n_categories, 1.0 / self.n_categories) if uniform_categories else share
        stream = f"merchants/{day}" + ("/longtail" if uniform_categories else "")
        return build_merchants(cfg, self.n_categories, weights, pricing or self.pricing, self.supply.table.by_category,
                               self.supply.table.cost_factor, self.streams.generator(stream), n, day,
                               self.scenario.shoppers.experience.reference_outcome)

    def _new_merchants(self, n: int, day: int, uniform_categories: bool = False) -> MerchantTable:
        """Draw `n` merchants; policies see them before they are stocked."""
        table = self._draw_merchants(self.scenario.merchants, n, day, uniform_categories)
        self.policies.merchants_created(self.context, table)  # before stocking: policies may change suppliers
        return table

    def _opening_demand(self, rows: np.ndarray | None = None, rounds: int = 12) -> np.ndarray:
        """Expected daily demand per (merchant, category) for merchants opening now (`rows`, default all),
        consistent with the ranking terms that follow demand (popularity sees the demand it ranks by, ad
        budgets are a share of expected sales: a fixed point, reached by iterating on the opening
        merchants' history and budgets), so that merchants open stocked and sized for the demand they
        will meet."""
        t = self.merchants.table
        rows = np.arange(t.size) if rows is None else rows
        buyers = self._expected_buyers_by_segment()
        self.choice.refresh(t)
        expected = self.choice.expected_cell_demand(buyers)
        for _ in range(rounds):  # popularity and ads (a share of expected sales) both follow the demand
            t.demand_history[:, rows, :] = expected[None, rows, :]
            budget_for_expected_sales(t, rows, expected, self.scenario.merchants, self.order_value)
            self.choice.refresh(t)
            expected = self.choice.expected_cell_demand(buyers)
        return expected

    def _todays_market(self) -> MerchantTable:
        """The day-0 merchants as the calibrated market had them (choice.reference: its price level,
        promised delivery, quality and fees), no policy: the offer the calibration saw, drawn from the same
        random stream as the real day-0 merchants, so a scenario at the reference buys exactly as
        calibrated and one that delivers slower, sells worse or charges more buys less."""
        ref = self.scenario.choice.reference
        today = self.scenario.merchants.model_copy(update={
            "price_index_mean": ref.price_index_mean, "delivery_days_platform": ref.delivery_days_platform,
            "delivery_days_self": ref.delivery_days_self, "quality_mean": ref.quality_mean})
        return self._draw_merchants(today, today.count, 0, uniform_categories=False, pricing=self.reference_pricing)

    def _add_merchants(self, table: MerchantTable) -> None:
        """New merchants join, stocked and sized for the demand they can expect in today's market."""
        first = self.merchants.table.size
        self.merchants.add(table)
        rows = np.arange(first, self.merchants.table.size)
        self.merchants.open(rows, self._opening_demand(rows))
        self.context.merchants = self.merchants.table

    def _apply(self, changes: MarketChanges) -> None:
        """A policy's changes at its start: long-tail merchants, the fleet, personalisation."""
        if changes.onboard_longtail_merchants:
            self._add_merchants(self._new_merchants(changes.onboard_longtail_merchants, day=self.day,
                                                    uniform_categories=True))
            self.choice.refresh(self.merchants.table)
        self.last_mile.reconfigure(changes.fleet_shares, changes.fleet_capacity_gain, changes.km_factor,
                                   changes.extra_delivery_days, changes.packaging)
        if changes.personalisation is not None:
            self.choice.set_personalisation(changes.personalisation, self.merchants.table)

    def _launch_policies(self) -> None:
        """The policies start today (simulation.policies_start: launch): they see the merchants as they are
        (ranges and suppliers they change take effect now; a category added to a merchant is stocked for
        its expected demand before it goes on sale) and set up the market as they would before day 0."""
        self.policies = self._policies_to_launch
        table = self.merchants.table
        carried = table.carries.copy()
        self.policies.merchants_created(self.context, table)
        added = table.carries & ~carried
        if added.any():
            self.choice.refresh(table)
            expected = self.choice.expected_cell_demand(self._expected_buyers_by_segment())
            self.merchants.open_cells(*np.nonzero(added), expected)
            self.choice.refresh(table)
        for changes in self.policies.setup(self.context):
            self._apply(changes)
        self._see_platform_delay()
        self.policies_launched = True

    def _rival_gain(self) -> np.ndarray:
        """What the rivals' scenario offer (section rivals) is worth more than the calibrated one, per segment."""
        return rival_gain(self.scenario.rivals, self.scenario.choice, self.choice.price_sensitivity)

    def _see_platform_delay(self) -> None:
        """Shoppers see platform-fulfilled delivery as consolidation days + the fleet's backlog."""
        self.choice.set_platform_delay(self.last_mile.extra_days + self.last_mile.expected_wait(),
                                       self.merchants.table)

    def _expected_buyers_by_segment(self) -> np.ndarray:
        """Expected buyers per segment on the first day: alive customers' rates and the joining chance."""
        sh, acq = self.shoppers, self.scenario.acquisition
        alive = sh.alive
        n_seg = len(self.scenario.shoppers.segments)
        rate = sh.rate_weekly[alive] * self.scenario.shoppers.purchase_rate_multiplier \
            * self.choice.segment_offer_multiplier[sh.segment[alive]]
        per_seg = np.bincount(sh.segment[alive], weights=-np.expm1(-rate / 7.0), minlength=n_seg)
        prospects = ~sh.is_customer
        if self.schedule is not None:  # a replayed cohort: its first month's joins a day, spread like the prospects
            joins = float(self.schedule[:30].mean()) if self.schedule.size else 0.0
            by_seg = np.bincount(sh.segment[prospects], minlength=n_seg).astype(float)
            return per_seg + joins * by_seg / max(by_seg.sum(), 1.0)
        p_join = acq.innovation_p + acq.imitation_q * recommenders(sh, 0, acq).mean() + paid_join_probability(
            self.scenario.platform.marketing_spend_per_day, acq, int(prospects.sum()))
        return per_seg + p_join * self.choice.segment_offer_multiplier \
            * np.bincount(sh.segment[prospects], minlength=n_seg)

    def _churn_counts(self, day: int) -> tuple[int, int]:
        """(customers who churn on `day`, customers not churned at its end), counting days without a purchase
        from the run's start (the first simulated day): the clock day - max(last purchase, 0)."""
        last, n = self.shoppers.last_days, self.scenario.shoppers.lifecycle.churned_after_days
        t = day - n  # clock == n: max(last, 0) == t; clock < n: max(last, 0) > t
        if t < 0:
            return 0, self.shoppers.customers
        entries = last.at(t) if t > 0 else self.shoppers.customers - last.after(0)
        return entries, last.after(t)

    def _start_measuring(self) -> None:
        """The end of the warm-up: books, counters and KPI rows start afresh; the market carries on."""
        d = self.day
        self.ledger.restart()
        self.carbon.restart()
        self.recorder.rows.clear()
        self.shoppers.orders_in_run[:] = 0
        self.shoppers.repeats_in_run[:] = 0
        self.merchants.start_measuring(self.inventory_value())
        self.served_by_category[:] = 0
        self.returns.decided_by_category[:] = 0
        self.policies.start_measuring()
        self.churn_at_risk_start = self._churn_counts(d - 1)[1]
        self.alive_start = int(self.shoppers.alive.sum())
        self.residual_gmv_start = self.residual_gmv()

    # --- the day --------------------------------------------------------------------------------

    def step(self) -> None:
        """One day, in the order of the ODD process overview (docs/model.md)."""
        d, sh, cfg, ctx, merchants = self.day, self.shoppers, self.scenario, self.context, self.merchants
        ctx.day = d
        if d == self.launch_day and not self.policies_launched:
            self._launch_policies()
        if d == self.warmup and d > 0:
            self._start_measuring()
        if d == self.rivals_move_day and d > 0:  # the rivals change their offer during the run
            self.choice.set_rival_gain(self._rival_gain())
        merchants.start_day()  # costs and credits booked outside orders enter today's profit
        self.supply.receive_due(d)  # lots due at the start of the day reach the shelves
        returns_due, restocked = self.returns.settle(d, self.ledger, self.last_mile, merchants)
        self.supply.book_sold(*restocked, sign=-1.0)  # back on a shelf: its carbon counts when it sells again

        # 1. marketing and fixed costs, policies' day start; the day's uniforms (drawn as they are needed)
        marketing = self.platform.day_start()
        self.policies.day_start(ctx)
        draws = ctx.draws = DailyDraws(self._draw_streams, d, sh.occasions)

        # 2. acquisition: prospects join (paid + organic + word of mouth + policies); joining is the first order
        p_paid = paid_join_probability(marketing, cfg.acquisition, sh.n - sh.customers)
        wom = ctx.word_of_mouth = self.word_of_mouth
        self.recommending.advance(d)
        if self.schedule is None:
            new, channel = joiners(sh.is_customer, self.join_clocks, sh.segment, self.choice.segment_offer_multiplier,
                                   cfg.acquisition, p_paid, wom, self.policies.join_probability(ctx),
                                   lambda who: draws.of("join", who))
        else:
            new, channel = scheduled_joiners(~sh.is_customer, int(self.schedule[d]))
        channel = self.policies.on_joins(ctx, new, channel)

        # 3. purchases by alive customers: propensity x season x experience x personalisation x policies
        #    x what the offer is worth (buy or not) x the market's buying frequency
        exposed = ctx.exposed = sh.exposed_today(d)
        rate_mult = ctx.rate_multiplier = self._rate_multiplier(d, exposed)
        repeaters = sh.repeat_buyers(d, exposed, rate_mult)
        sh.join(d, new, channel)

        # 4. orders: category, merchant by logit, stock check, value; money booked
        buyers = np.concatenate([new, repeaters])
        is_first = np.zeros(buyers.size, dtype=bool)
        is_first[:new.size] = True
        # the buyers' draws of the day, all at once (purchase numbers do not change again today): the order's,
        # its delivery priority and return (steps 5), the repeat buyers' dropout (step 7)
        u = draws.at_purchase(PURCHASE_DRAWS, buyers)
        t = merchants.table
        demand = np.zeros((t.size, self.n_categories))
        orders = place_orders(self._market(), buyers, is_first, sh.order_spend(buyers, u["spend"]),
                              u["category"], u["merchant"], u["fallback"], u["priority"], demand)
        commission = self.platform.settle_orders(orders.value)
        self.policies.on_orders(ctx, orders)
        served = orders.fulfilled
        repeat_served = buyers[served & ~is_first]
        reactivated = int(np.count_nonzero(d - sh.last_day[repeat_served]
                                           >= cfg.shoppers.lifecycle.dormant_after_days))
        sh.record_orders(d, buyers[served])
        self.recommending.touch(d, new)
        self.recommending.touch(d, buyers[served])
        if self.order_log is not None and d >= self.warmup:
            self.order_log.append((d - self.warmup, buyers[served], orders.value[served]))
        self.supply.units.sold += int(served.sum())
        m_served, c_served = orders.merchant[served], orders.category[served]
        if cfg.merchants.unlimited_stock:
            self.supply.make_to_order(m_served, c_served)
        cogs = merchants.sell(d, m_served, c_served, orders.value[served])
        self.served_by_category += np.bincount(c_served, minlength=self.n_categories)
        self.supply.book_sold(m_served, c_served)  # the carbon of what was sold and delivered
        # Accrual profit: net sales less the cost of the units sold (stock is an asset until sold).
        profit_today = np.bincount(m_served, weights=orders.value[served] - commission[served] - cogs,
                                   minlength=t.size).astype(np.float64)  # int64 on a day without sales

        # 5. logistics: parcels to the last mile (waits known now: FIFO), returns decided
        delivery = self._ship(d, orders, commission, u)

        # 6. SimPy runs to t+1: production, shipments, delivery waves
        self.env.run(until=d + 1)

        # 7. experience: satisfaction, ratings' inputs, dropout after repeat purchases
        sh.update_satisfaction(orders.shopper, orders.outcome)
        merchants.rate_orders(orders.first_choice, orders.outcome)
        # lifetimes in calendar time: dropout per purchase / the day's purchase-rate multiplier
        dropped = sh.dropouts(d, repeaters, u["drop"][new.size:],
                              self.policies.dropout_multiplier(ctx, repeaters),
                              ctx.rate_multiplier_of(repeaters))
        self.recommending.touch(d, dropped)

        # 8. merchants: costs of the day, forecast, replenishment orders to suppliers
        profit_today -= merchants.daily_costs()
        record_demand(t, demand)
        profit_today -= self.supply.replenish(d)
        profit_today = merchants.close_day(d, profit_today)

        # 9. policies' day end, month end (ratings, exit and entry), then the day's row of KPIs
        ctx.carbon_today_kg = self.carbon.today_total()
        self.policies.day_end(ctx)
        if self.is_month_end[d]:
            self._month_end(d)
        self._record(d, orders, demand, profit_today, channel, delivery, reactivated, returns_due, dropped.size)
        self.last_mile.end_day()
        self._see_platform_delay()
        self.day += 1

    def _rate_multiplier(self, d: int, exposed: np.ndarray) -> np.ndarray | float:
        """Today's purchase-rate multiplier of the `exposed` shoppers (aligned with them): season x experience
        x personalisation x policies x what the offer is worth (buy or not) x the market's buying frequency."""
        sh, ch = self.shoppers, self.choice
        seg = sh.segment[exposed]
        return (self.season[d] * sh.experience_rate_multiplier(exposed) * ch.segment_match_multiplier[seg]
                * self.policies.purchase_multiplier(self.context, exposed) * ch.segment_offer_multiplier[seg]
                * self.scenario.shoppers.purchase_rate_multiplier)

    def run(self, progress: bool = False) -> None:
        """Run every day of the scenario (progress bar on request: tqdm is imported then, 0.03 s)."""
        if not progress:
            for _ in range(self.days):
                self.step()
            return
        from tqdm import tqdm

        for _ in tqdm(range(self.days), desc=self.scenario.name, unit="day", leave=False):
            self.step()

    def served_orders(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The served orders of the measured period (customer_id, day, amount), sorted by customer and day:
        a shopper orders at most once a day."""
        log = [(0, np.zeros(0, np.int64), np.zeros(0)), *(self.order_log or [])]  # the first: no orders, typed
        day = np.concatenate([np.full(b.size, d, dtype=np.int32) for d, b, _ in log])
        customer = np.concatenate([b for _, b, _ in log]).astype(np.int64)
        amount = np.concatenate([v for _, _, v in log]).astype(np.float64)
        order = np.lexsort((day, customer))
        return customer[order], day[order], amount[order]

    def transactions(self) -> pd.DataFrame:
        """The served orders of the measured period, one row each (orders_frame)."""
        return orders_frame(self.scenario.simulation.start_date, *self.served_orders())

    def release(self) -> None:
        """Let the model be garbage-collected once nothing else holds it. Mesa 3.3 keeps every model
        it has seen as a key of the class attribute `Agent._ids` (mesa issue #3179, fixed in later
        releases by PR #3180), so a process that runs many models in turn (a sweep worker) would
        grow by a model's size every run. Call it when the run is over: no agent may be created after."""
        ids = getattr(Agent, "_ids", None)
        if isinstance(ids, dict):
            ids.pop(self, None)

    # --- pieces of the day ----------------------------------------------------------------------

    def _market(self) -> Market:
        t, sc, ch = self.merchants.table, self.scenario, self.choice
        return Market(
            segment=self.shoppers.segment, category_cum=ch.category_cum,
            category_support=ch.category_support, merchant_weights=ch.merchant_weights,
            on_hand=t.on_hand, unlimited_stock=sc.merchants.unlimited_stock,
            fallback=sc.shoppers.stockout_behaviour == "fallback", price_level=self.price_level,
            price_index=t.price_index, fallback_outcome=sc.shoppers.experience.fallback_outcome,
            stockout_outcome=sc.shoppers.experience.stockout_outcome,
        )

    def _ship(self, d: int, orders: OrderBatch, commission: np.ndarray, u: dict[str, np.ndarray]) -> dict[str, float]:
        """Served orders to the last mile; returns decided; late and returned orders disappoint. `u`: the
        day's purchase draws, aligned with the orders."""
        t = self.merchants.table
        served = np.flatnonzero(orders.fulfilled)
        m, c = orders.merchant[served], orders.category[served]
        shopper = orders.shopper[served]
        region = self.shopper_region[shopper]
        days, wait = self.last_mile.ship(self.merchants, m, region, u["priority"][served])
        late = wait > 0
        discount = self.policies.order_discounts(self.context, orders)  # a return refunds what the shopper paid
        paid = orders.value[served] - (discount[served] if np.ndim(discount) else discount)
        supplier_quality = self.supply.table.quality[t.supplier[m, c]]
        returned = self.returns.take(d, u["ret"][served], t.quality[m], supplier_quality, m, c, region, paid,
                                     commission[served])
        exp = self.scenario.shoppers.experience
        outcome = orders.outcome[served]
        outcome = np.where(late, np.minimum(outcome, exp.late_outcome), outcome)
        orders.outcome[served] = np.where(returned, np.minimum(outcome, exp.return_outcome), outcome)
        return {"delivery_days": float(days.sum()), "late": int(late.sum()), "returns_decided": int(returned.sum()),
                "platform_parcels": int(t.platform_fulfilled[m].sum())}

    def _month_end(self, d: int) -> None:
        """Policies' month end (delisting), fleet review, ratings, merchant exit and entry."""
        for changes in self.policies.month_end(self.context):
            self.merchants.delist(changes.delist_merchants, changes.delist_categories, d)
        if self.scenario.logistics.resize_monthly:
            self.last_mile.resize()
        self.merchants.update_ratings()
        self.merchants.exits(d)
        n_new = self.merchants.entrants_due(self._entry_rng)
        if n_new > 0:
            self._add_merchants(self._new_merchants(n_new, day=d + 1))
        self.merchants.end_month(d)
        self.choice.refresh(self.merchants.table)
        self.cohorts.record(d, self.shoppers.first_day, self.shoppers.last_day)

    def _record(self, d: int, orders: OrderBatch, demand: np.ndarray, profit: np.ndarray, channel: np.ndarray,
                delivery: dict[str, float], reactivated: int, returns_due: int, dropouts: int) -> None:
        """Close the day's books and hand the day's observations to the recorder."""
        sh, t, lm = self.shoppers, self.merchants.table, self.last_mile
        served = orders.fulfilled
        n_served = int(np.count_nonzero(served))
        n_first = int(np.count_nonzero(served & orders.is_first))
        by_channel = np.bincount(channel, minlength=len(CHANNELS))
        counts = sh.lifecycle_counts(d)
        churn_entries, churn_at_risk = self._churn_counts(d)
        observed = {
            "day": d - self.warmup,
            "date": self.calendar_start + dt.timedelta(days=d),
            "season_multiplier": float(self.season[d]),
            "orders": n_served,
            "first_orders": n_first,
            "repeat_orders": n_served - n_first,
            "order_attempts": orders.attempts,
            "lost_sales": served.size - n_served,
            "fallback_orders": int(np.count_nonzero(orders.fell_back)),
            "stockout_events": int(np.count_nonzero(orders.first_choice >= 0)
                                   - np.count_nonzero(served & ~orders.fell_back)),
            "new_customers": int(channel.size),
            **{f"new_customers_{name}": int(by_channel[code]) for name, code in CHANNELS.items()
               if name != "initial"},
            "customers_total": sh.customers,
            "active_customers": counts["new"] + counts["active"],
            "new_state": counts["new"],
            "dormant_customers": counts["dormant"],
            "churned_customers": counts["churned"],
            "churn_entries": churn_entries,
            "churn_at_risk": churn_at_risk,
            "alive_latent": sh.alive_count,
            "recommenders": sh.recommenders(d, self.scenario.acquisition.recommend_window_days),
            "dropouts": dropouts,
            "merchant_profit": float(profit.sum()) - self.merchants.written_off_value_today,
            "returns": returns_due,
            "returns_decided": delivery["returns_decided"],
            "units_demanded": int(demand.sum()),
            "units_sold": n_served,
            "units_ordered": self.supply.ordered_today,
            "on_hand_units": int(t.on_hand.sum()),
            "delivery_days_sum": delivery["delivery_days"],
            "late_deliveries": delivery["late"],
            "reactivated_customers": reactivated,
            "platform_parcels": delivery["platform_parcels"],
            "parcels_delivered_by_fleet": int(lm.delivered_today.sum()),
            "fleet_backlog": int(lm.backlog.sum()),
            "merchants_active": int(np.count_nonzero(t.active)),
        }
        self.recorder.record(observed, self.ledger.close_day(), self.carbon.close_day())

    # --- the end of the run ---------------------------------------------------------------------------

    def run_end(self) -> RunEnd:
        """The end state the summary reads (sim/metrics.py)."""
        sh, t, cfg = self.shoppers, self.merchants.table, self.scenario
        return RunEnd(
            first_day=sh.first_day, second_day=sh.second_day, is_customer=sh.is_customer, alive=sh.alive,
            repeats_in_run=sh.repeats_in_run, orders_in_run=sh.orders_in_run, segment=sh.segment,
            segment_names=[s.name for s in cfg.shoppers.segments],
            category_names=[c.name for c in cfg.catalog.categories], orders_by_category=self.served_by_category.copy(),
            returns_by_category=self.returns.decided_by_category.copy(),
            initial_history_days=cfg.shoppers.initial_history_days, measure_start=self.warmup,
            churn_after_days=cfg.shoppers.lifecycle.churned_after_days, churn_at_risk_start=self.churn_at_risk_start,
            alive_start=self.alive_start, is_month_end=self.is_month_end[self.warmup:],
            forecast_window_days=cfg.merchants.replenishment.forecast_window_days,
            merchant_active=t.active.copy(), merchant_trailing_profit=t.profit_days.sum(axis=0),
            merchant_gmv=t.gmv_run[t.left_day >= self.warmup].copy(), merchants_joined=self.merchants.joined,
            returns_outstanding=self.returns.outstanding(), ledger_totals=dict(self.ledger.totals),
            ledger_flows=dict(self.ledger.flows), merchant_accrual=dict(self.merchants.accrual),
            merchants_left=self.merchants.left,
            merchants_in_window=int(np.count_nonzero(t.left_day >= self.warmup)),
            merchants_satisfied=int(np.count_nonzero(t.active & (t.profit_days.sum(axis=0) > 0))),
            platform_balance=self.ledger.balances["platform"], platform_inflow=self.ledger.inflow("platform"),
            cohorts=list(self.cohorts.rows), shoppers=cfg.shoppers.count,
            residual_gmv_start=self.residual_gmv_start, residual_gmv_end=self.residual_gmv(),
            sample_fraction=cfg.shoppers.sample_fraction,
        )

    def residual_gmv(self) -> float:
        """The discounted GMV the customers on the books will still bring (the simulator's latent truth):
        each latently alive customer's DERT (sim/bgnbd.py) at its own rate x the market's buying frequency
        x today's offer multiplier, with dropout per purchase scaled as on a day of that rate (lifetimes in
        calendar time, step 7), x its expected order value. Discounted at platform.discount_rate_per_year."""
        sh, cfg = self.shoppers, self.scenario
        who = np.flatnonzero(sh.alive & sh.is_customer)
        if who.size == 0:
            return 0.0
        m = cfg.shoppers.purchase_rate_multiplier * self.choice.segment_offer_multiplier[sh.segment[who]]
        base = sh.rate_weekly[who]
        rate = base * m
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(rate > 0, calendar_time_scale(base, m), 1.0)
        p = np.minimum(sh.dropout_p[who] * scale, 1.0)
        delta = float(np.log1p(cfg.platform.discount_rate_per_year)) / 52.0
        dert = discounted_residual_transactions(rate, p, delta)
        # summed exactly (math.fsum), not by a BLAS dot: OpenBLAS splits a long dot over threads, so its last
        # digit would depend on the machine's cores, and its threads spin on a core after it (a sweep's other worker's)
        return math.fsum(dert * self.context.expected_order_value()[who])

    @property
    def merchant_table(self) -> MerchantTable:
        return self.merchants.table

    def inventory_value(self) -> float:
        """Merchants' stock at unit cost: on hand plus paid-for lots not yet received [currency]."""
        return self.supply.inventory_value(self.merchants.table)

    def unit_balance(self) -> dict[str, int]:
        """The unit identities of DESIGN.md section 2, with both sides."""
        return self.supply.unit_balance()


def orders_frame(start_date: dt.date, customer: np.ndarray, day: np.ndarray, amount: np.ndarray) -> pd.DataFrame:
    """Served orders as a table: customer_id (the shopper's index, no other identity), day (0 =
    simulation.start_date), date and amount (the order's value in the scenario's currency, before any
    return)."""
    import pandas as pd

    return pd.DataFrame({"customer_id": customer, "day": day,
                         "date": pd.Timestamp(start_date) + pd.to_timedelta(day, unit="D"), "amount": amount})

"""Double-entry ledger of every money flow between the parties of the market.

Each posting moves an amount from a payer account to a payee account under a flow name
(e.g. 'sale', 'commission', 'marketing'). Account balances therefore always sum to zero,
and every money KPI is read from the flows, never computed a second way.
"""

from __future__ import annotations

from collections import defaultdict

# provisions: what the platform owes but has not paid yet (loyalty points), so its profit is accrual
ACCOUNTS = ("shoppers", "merchants", "platform", "suppliers", "external", "provisions")

Flows = dict[str, tuple[str, str]]  # flow name -> (payer, payee)

# The market's own flows; each policy declares its flows in its module (Policy.flows).
CORE_FLOWS: Flows = {
    "sale": ("shoppers", "merchants"),            # order value paid by the shopper (GMV)
    "commission": ("merchants", "platform"),      # take rate on GMV
    "ad_fees": ("merchants", "platform"),         # merchants' ranking/ad spend
    "goods": ("merchants", "suppliers"),          # unit cost of replenishment orders
    "holding": ("merchants", "external"),         # inventory carrying cost
    "merchant_fixed": ("merchants", "external"),  # merchants' fixed operating cost
    "marketing": ("platform", "external"),        # paid acquisition
    "platform_fixed": ("platform", "external"),   # platform operating cost
    "logistics": ("platform", "external"),        # platform fleet, its packaging, reverse logistics
    "shipping": ("merchants", "external"),        # carrier fees and packaging of merchant-fulfilled parcels
    "freight": ("merchants", "external"),         # line-haul from suppliers
    "ordering": ("merchants", "external"),        # fixed cost per replenishment order line
    "fulfilment_fee": ("merchants", "platform"),  # platform fulfilment, per parcel
    "refund": ("merchants", "shoppers"),          # returned orders' value
    "commission_refund": ("platform", "merchants"),  # commission on returned orders
    "payment_processing": ("platform", "external"),  # card fees on the order value the platform collects
    "salvage": ("external", "merchants"),         # what liquidating a leaving merchant's stock recovers
}


class Ledger:
    """Running totals per flow (whole run and current day) and per account."""

    def __init__(self, flows: Flows) -> None:
        unknown = {a for pair in flows.values() for a in pair} - set(ACCOUNTS)
        if unknown:
            raise ValueError(f"flows name unknown accounts {sorted(unknown)}")
        self.flows = dict(flows)
        self.totals: dict[str, float] = defaultdict(float)
        self.today: dict[str, float] = defaultdict(float)
        self.balances: dict[str, float] = {a: 0.0 for a in ACCOUNTS}
        self.opening: dict[str, float] = {}  # balances carried over a restart

    def post(self, flow: str, amount: float) -> None:
        """Book `amount` (>= 0) under `flow`; unknown flows and negative amounts are bugs."""
        if flow not in self.flows:
            raise KeyError(f"unknown ledger flow {flow!r}")
        amount = float(amount)
        if amount < 0.0:
            raise ValueError(f"negative amount {amount} for flow {flow!r}")
        payer, payee = self.flows[flow]
        self.totals[flow] += amount
        self.today[flow] += amount
        self.balances[payer] -= amount
        self.balances[payee] += amount

    def restart(self) -> None:
        """Start the books afresh (the end of a warm-up): totals and balances back to zero, except what
        the platform owes (provisions), which carries over as an opening balance."""
        self.totals = defaultdict(float)
        self.today = defaultdict(float)
        self.opening = {"provisions": self.balances["provisions"]}
        self.balances = {a: self.opening.get(a, 0.0) for a in ACCOUNTS}

    def close_day(self) -> dict[str, float]:
        """The day's flows; resets the day."""
        day = {flow: self.today.get(flow, 0.0) for flow in self.flows}
        self.today = defaultdict(float)
        return day

    def imbalance(self) -> float:
        """Sum of all balances less the opening balances: zero up to rounding in a correct ledger."""
        return sum(self.balances.values()) - sum(self.opening.values())

    def inflow(self, account: str, flows: dict[str, float] | None = None) -> float:
        """Money received by `account` (from `flows`, default the whole run)."""
        flows = self.totals if flows is None else flows
        return sum(v for f, v in flows.items() if self.flows[f][1] == account)

    def outflow(self, account: str, flows: dict[str, float] | None = None) -> float:
        flows = self.totals if flows is None else flows
        return sum(v for f, v in flows.items() if self.flows[f][0] == account)

"""Adversarial Salesforce records for the fuzz tests, and an in-process pair of sandboxes to put them in.

Text mixes what breaks integrations: empty and missing values, 10,000-character strings, control
characters, emoji, right-to-left text, quotes and backslashes, SOQL and OData operators. Values are
cut to the Salesforce field's own length (the org refuses longer ones, STRING_TOO_LONG) except in the
long text areas, where the 10,000 characters go through to the connector.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from ml_connector.admin import Workspace, open_workspace
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox._serve import SandboxPair, SeedSize, write_config
from ml_connector.sync import SyncReport, Transports, run_sync

NASTY = (
    "",
    " ",
    "\t\n",
    "O'Brien & Sons",
    'say "hi" \\ back\\slash',
    "' OR Name LIKE '%",
    "x' OR Id != null OR Name = 'y",
    "eq 'x' or 1 eq 1",
    "A' or CustomerID ne '",
    "$filter=CustomerID eq 'C00001'",
    "%27%20or%20%27",
    "\x00\x01\x07bell\x1b[31mred",
    "🏗️ Builders 🔨🪵",
    'שלום בנייה בע"מ',
    "شركة البناء",
    "\u202eevil\u202c",
    "Ünïcödé Çø.",
    "null",
    "None",
    "",
)

LONG = "Ж" * 10_000
COUNTRIES = st.sampled_from(("USA", "U.K.", "Canada", "Mexico", "united states", None))


def nasty_text(max_length: int) -> st.SearchStrategy[str | None]:
    """Text for a field of ``max_length`` characters (None sometimes: nulls where values belong)."""
    free = st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=min(max_length, 300)
    )
    picked = st.one_of(st.sampled_from(NASTY), free, st.just(LONG))
    return st.one_of(st.none(), picked.map(lambda text: text[:max_length]))


GOOD_QUANTITIES = st.sampled_from((0.001, 1.0, 3.0, 2.5, 40.0))
QUANTITIES = st.one_of(
    GOOD_QUANTITIES, GOOD_QUANTITIES, st.sampled_from((0.0, -1.0, -0.5, 1e9, 123456789.123))
)
SELLABLE_ITEMS = st.sampled_from(("LUM2X4-8", "OSB-7/16"))
PRICES = st.one_of(st.none(), st.sampled_from((0.0, -5.0, 0.01, 4.98, 99999999.99, 1e-4)))


@st.composite
def account_records(draw: st.DrawFn) -> dict[str, Any]:
    """An Account with hostile values everywhere the connector maps."""
    name = draw(nasty_text(255))
    return {
        "Name": name if name and name.strip() else draw(st.sampled_from(("x", "\u200b", "🙂"))),
        "AccountNumber": draw(nasty_text(40)),
        "Phone": draw(nasty_text(40)),
        "Website": draw(nasty_text(255)),
        "BillingStreet": draw(nasty_text(255)),
        "BillingCity": draw(nasty_text(40)),
        "BillingState": draw(nasty_text(80)),
        "BillingPostalCode": draw(nasty_text(20)),
        "BillingCountry": draw(st.one_of(COUNTRIES, COUNTRIES, nasty_text(80), st.just("Narnia"))),
        "Description": draw(nasty_text(32000)),
    }


@st.composite
def contact_records(draw: st.DrawFn) -> dict[str, Any]:
    """A Contact; LastName is required by Salesforce, so it is hostile but present."""
    last = draw(nasty_text(80))
    return {
        "FirstName": draw(nasty_text(40)),
        "LastName": last if last and last.strip() else "\u200f",
        "Title": draw(nasty_text(128)),
        "Phone": draw(nasty_text(40)),
        "MailingStreet": draw(nasty_text(255)),
        "MailingCity": draw(nasty_text(40)),
        "MailingCountry": draw(st.one_of(COUNTRIES, COUNTRIES, nasty_text(80))),
    }


@st.composite
def order_lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    """0-4 lines: catalogue items, unknown item numbers, hostile quantities and prices."""
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        lines.append(
            {
                "item": draw(
                    st.one_of(
                        SELLABLE_ITEMS,
                        SELLABLE_ITEMS,
                        st.sampled_from(("TILE-PORC-12", "INS-VERM-4CF")),
                        st.sampled_from(NASTY[3:]).map(lambda t: t[:30]),
                    )
                ),
                "Quantity": draw(QUANTITIES),
                "UnitPrice": draw(PRICES),
                "Description": draw(nasty_text(255)),
            }
        )
    return lines


@dataclass
class FuzzEnv:
    """Both sandboxes in-process and a workspace wired to them."""

    pair: SandboxPair
    ws: Workspace

    async def sync(self) -> SyncReport:
        transports = Transports(
            SandboxTransport(self.pair.salesforce.app), SandboxTransport(self.pair.acumatica.app)
        )
        return await run_sync(self.ws, (), transports=transports)


def make_fuzz_env(folder: Path) -> FuzzEnv:
    """A pair seeded with the catalogue (and a few accounts), and a fresh workspace."""
    pair = SandboxPair.create(SeedSize(seed=5, accounts=2, contacts_per_account=1, orders=2))
    return FuzzEnv(pair, open_workspace(write_config(pair, folder)))

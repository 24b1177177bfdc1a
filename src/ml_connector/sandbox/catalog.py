"""The building-products catalogue both sandboxes seed from, so their products line up.

Salesforce ``Product2.ERP_Item_No__c`` equals Acumatica ``StockItem.InventoryID``. A few Salesforce
products have no stock item in Acumatica and one stock item is ``No Sales``, so the unhappy paths of the
order flow (unknown item, item not sold) exist in every seeded pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["CATALOG", "CatalogItem", "acumatica_items", "salesforce_products"]


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One product as the distributor sells it."""

    item_no: str
    name: str
    uom: str
    price: Decimal
    in_acumatica: bool = True
    acumatica_status: str = "Active"  # Active | No Sales | Inactive | ...


CATALOG: tuple[CatalogItem, ...] = (
    CatalogItem("LUM2X4-8", "Lumber 2x4x8 SPF Stud", "EA", Decimal("4.98")),
    CatalogItem("LUM2X6-12", "Lumber 2x6x12 #2 Fir", "EA", Decimal("11.45")),
    CatalogItem("PLY-CDX-1/2", "Plywood CDX 1/2in 4x8", "EA", Decimal("32.10")),
    CatalogItem("OSB-7/16", "OSB Sheathing 7/16in 4x8", "EA", Decimal("18.75")),
    CatalogItem("DRY-1/2-4X8", "Drywall 1/2in 4x8 Regular", "EA", Decimal("14.20")),
    CatalogItem("DRY-5/8-FC", "Drywall 5/8in Type X Fire Code", "EA", Decimal("17.60")),
    CatalogItem("CEM-PORT-94", "Portland Cement Type I/II 94lb", "BAG", Decimal("15.35")),
    CatalogItem("CON-MIX-80", "Concrete Mix 80lb", "BAG", Decimal("6.48")),
    CatalogItem("REB-#4-20", "Rebar #4 x 20ft Grade 60", "EA", Decimal("12.90")),
    CatalogItem("INS-R13-15", "Fiberglass Insulation R-13 15in Batt", "ROLL", Decimal("48.00")),
    CatalogItem("INS-R30-24", "Fiberglass Insulation R-30 24in Batt", "ROLL", Decimal("62.50")),
    CatalogItem("SHG-ARCH-BLK", "Architectural Shingles Onyx Black", "BNDL", Decimal("41.99")),
    CatalogItem("FLT-30", "Roofing Felt #30 2sq", "ROLL", Decimal("29.95")),
    CatalogItem("NAIL-16D-50", "Framing Nails 16d 50lb Box", "BOX", Decimal("89.00")),
    CatalogItem("SCR-DECK-5", "Deck Screws 3in 5lb", "BOX", Decimal("34.75")),
    CatalogItem("HNG-JST-2X8", "Joist Hanger 2x8 Galvanized", "EA", Decimal("2.15")),
    CatalogItem("WRAP-HW-9", "House Wrap 9x150ft", "ROLL", Decimal("165.00")),
    CatalogItem("PVC-SCH40-2", "PVC Pipe Sch40 2in x 10ft", "EA", Decimal("13.80")),
    CatalogItem("TRIM-PVC-1X4", "PVC Trim Board 1x4x16", "EA", Decimal("27.40")),
    CatalogItem("CAULK-SIL-10", "Silicone Caulk 10oz Clear", "EA", Decimal("8.25")),
    # Sold in Salesforce but never set up in Acumatica: orders with these park as "unknown item".
    CatalogItem("TILE-PORC-12", "Porcelain Tile 12x24 Greige", "BOX", Decimal("54.00"), in_acumatica=False),
    CatalogItem("SKY-FIX-2246", "Fixed Skylight 22x46", "EA", Decimal("289.00"), in_acumatica=False),
    # Exists in Acumatica but may not be sold: orders with it park as "item not available for sale".
    CatalogItem(
        "INS-VERM-4CF", "Vermiculite Insulation 4cu ft", "BAG", Decimal("39.00"), acumatica_status="No Sales"
    ),
)


def salesforce_products() -> tuple[CatalogItem, ...]:
    """Every product the Salesforce price book offers."""
    return CATALOG


def acumatica_items() -> tuple[CatalogItem, ...]:
    """The stock items that exist in Acumatica."""
    return tuple(item for item in CATALOG if item.in_acumatica)

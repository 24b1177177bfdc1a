"""Property: the SOQL evaluator filters and sorts exactly like a plain Python model of the semantics."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ml_connector.sandbox.salesforce import SalesforceSandbox
from ml_connector.sandbox.salesforce._soql import evaluate, parse_query

CITIES = ["Denver", "denver", "Austin", None]
LIMITS = [None, 0.0, 500.0, 1000.0]

rows = st.lists(
    st.fixed_dictionaries({"city": st.sampled_from(CITIES), "limit": st.sampled_from(LIMITS)}), max_size=12
)


def atoms() -> st.SearchStrategy[tuple[str, Any]]:
    city = st.sampled_from(["Denver", "Austin", "Boston"])
    amount = st.sampled_from([0, 500, 750, 1000])
    op = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
    return st.one_of(
        st.tuples(st.just("city="), city),
        st.tuples(st.just("city_null"), st.booleans()),
        st.tuples(st.just("limit"), st.tuples(op, amount)),
        st.tuples(st.just("city_in"), st.lists(city, min_size=1, max_size=3)),
    )


def soql_of(atom: tuple[str, Any]) -> str:
    kind, arg = atom
    if kind == "city=":
        return f"BillingCity = '{arg}'"
    if kind == "city_null":
        return "BillingCity = null" if arg else "BillingCity != null"
    if kind == "limit":
        return f"Acumatica_Credit_Limit__c {arg[0]} {arg[1]}"
    return "BillingCity IN (" + ",".join(f"'{c}'" for c in arg) + ")"


def holds(atom: tuple[str, Any], row: dict[str, Any]) -> bool:
    kind, arg = atom
    city, limit = row["city"], row["limit"]
    if kind == "city=":
        return city is not None and city.lower() == arg.lower()
    if kind == "city_null":
        return (city is None) == arg
    if kind == "city_in":
        return city is not None and city.lower() in {c.lower() for c in arg}
    op, amount = arg
    if op == "=":
        return limit == amount
    if op == "!=":
        return limit != amount
    if limit is None:
        return False  # ordering comparisons never match null
    return {"<": limit < amount, "<=": limit <= amount, ">": limit > amount, ">=": limit >= amount}[op]


@settings(max_examples=150, deadline=None)
@given(rows, atoms(), atoms(), st.booleans(), st.booleans())
def test_where_and_order_match_the_model(
    data: list[dict[str, Any]], left: tuple[str, Any], right: tuple[str, Any], use_or: bool, negate: bool
) -> None:
    sandbox = SalesforceSandbox()
    if data:
        sandbox.insert_records(
            "Account",
            [
                {"Name": f"n{i:02d}", "BillingCity": r["city"], "Acumatica_Credit_Limit__c": r["limit"]}
                for i, r in enumerate(data)
            ],
        )
    joiner = "OR" if use_or else "AND"
    where = f"({soql_of(left)} {joiner} {soql_of(right)})"
    if negate:
        where = f"NOT {where}"
    soql = f"SELECT Name FROM Account WHERE {where} ORDER BY Acumatica_Credit_Limit__c DESC NULLS LAST, Name"
    total, records = evaluate(
        parse_query(soql),
        soql,
        rows=sandbox.org.rows,
        lookup=sandbox.org.lookup,
        now=sandbox.control.clock.now(),
        include_deleted=False,
        version="62.0",
    )

    def expected_match(row: dict[str, Any]) -> bool:
        a, b = holds(left, row), holds(right, row)
        result = (a or b) if use_or else (a and b)
        return not result if negate else result

    expected = [(f"n{i:02d}", r["limit"]) for i, r in enumerate(data) if expected_match(r)]
    expected.sort(key=lambda item: item[0])
    expected.sort(key=lambda item: (item[1] is None, -(item[1] or 0.0)))
    assert total == len(expected)
    assert [r["Name"] for r in records] == [name for name, _ in expected]

"""Finding a company by any form of its name, or by its code: the query standardised as
`veil link` standardised the companies' names (linkage.company_names.search_keys), then
looked up in the graph (graph.queries.search_companies). `veil find-company` and
`GET /companies?q=` both call `find_companies`."""

from __future__ import annotations

import neo4j

from graph.answers import CompanySearch
from graph.queries import COMPANY_ID, USCC, NameSearch, Scope, search_companies
from linkage.company_names import search_keys, standardise_company_name


def name_search(query: str) -> NameSearch:
    """What `query` looks for: a USCC or entity ID as such; a name by its canonical form
    (exact), its trade name's sound (in its region, when it names one) and its simplified
    and canonical forms as parts of a name (partial)."""
    text = query.strip()
    if USCC.match(text.upper()):
        return NameSearch(code=text.upper())
    if COMPANY_ID.match(text):
        return NameSearch(code=text)
    name = standardise_company_name(text)
    keys = search_keys(name)
    parts = [keys.form] if name.is_romanised else [keys.form, keys.key]
    return NameSearch(
        keys=(keys.key,),
        sounds=(keys.regional_sound or keys.sound,),
        fragments=tuple(dict.fromkeys(parts)),
    )


def find_companies(
    driver: neo4j.Driver,
    query: str,
    scope: Scope | None = None,
    page: int = 1,
    per_page: int = 20,
    database: str = "neo4j",
) -> CompanySearch:
    """A page of the companies `query` finds (within `scope`), exact matches first."""
    return search_companies(driver, name_search(query), scope, page, per_page, database)

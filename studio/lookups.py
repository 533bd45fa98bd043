"""``field__in_list=[...]``: membership in a long list of ids bound as ONE parameter.

Django's ``__in`` turns a list into one placeholder per value and prepares each value on its own (through the foreign
key's target field, three calls deep); for the 1,000-id lists of a page load that was a third of a 1,000-model
registry search. Here the list goes to the database whole: SQLite reads it as a JSON array through ``json_each``,
PostgreSQL as an array through ``= ANY``. Both use the column's index, and there is no bound-variable limit to chunk
around. Only for lists of ints or strings that the caller produced itself (ids it read, keys it validated).
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db.models import CharField, ForeignKey, IntegerField, Lookup


class InList(Lookup):
    """``column IN (the list)`` with the list as one parameter; an empty list matches nothing."""

    lookup_name = "in_list"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[Any]:
        values = list(self.rhs)
        if not all(isinstance(v, int | str) and not isinstance(v, bool) for v in values):
            raise TypeError("in_list takes a list of ints or strings")
        return values

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} IN (SELECT value FROM json_each(%s))", [*lhs_params, orjson.dumps(self.rhs).decode()]

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, self.rhs]


def register() -> None:
    """Offer ``__in_list`` on id columns: integer and string fields (primary keys included) and foreign keys."""
    for field_class in (IntegerField, CharField, ForeignKey):
        field_class.register_lookup(InList)

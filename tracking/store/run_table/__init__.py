"""The experiment page's runs table: one keyset page of an experiment's runs with the columns the user picked.

What the table shows is a ``RunTableState`` read from the query string: a filter (MLflow's language plus Studio's OR
and parentheses, through ``tracking.search``), the picked param, metric and tag columns, a sort on any column, a keyset
cursor, the deleted-runs toggle and the selected runs. Without a filter the table lists the top-level runs and each
row says how many child runs it has (tag ``mlflow.parentRunId``); the children are fetched on demand, a keyset page at
a time, with the same query scoped to one parent. With a filter the matching runs are listed flat, each child naming
its parent.

A page costs a fixed number of queries whatever the number of runs: the counts, the page's rows (ordered in SQL by
the sort value, runs lacking it last, then the run id), the child counts of the page's rows, and one query per kind of
picked column for the page's runs and keys only.
"""

from tracking.store.run_table.query import (
    CELL_CHARS,
    DEFAULT_METRIC_COLUMNS,
    PAGE_SIZE,
    KeyGroup,
    RunRow,
    RunTablePage,
    child_counts,
    default_columns,
    experiment_keys,
    run_table_page,
    sort_annotations,
)
from tracking.store.run_table.state import (
    ATTRIBUTE_COLUMNS,
    MAX_COLUMNS,
    MAX_SELECTED,
    Column,
    Cursor,
    Header,
    RunTableState,
    Sort,
    columns_param,
    parse_columns,
)

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "CELL_CHARS",
    "DEFAULT_METRIC_COLUMNS",
    "MAX_COLUMNS",
    "MAX_SELECTED",
    "PAGE_SIZE",
    "Column",
    "Cursor",
    "Header",
    "KeyGroup",
    "RunRow",
    "RunTablePage",
    "RunTableState",
    "Sort",
    "child_counts",
    "columns_param",
    "default_columns",
    "experiment_keys",
    "parse_columns",
    "run_table_page",
    "sort_annotations",
]

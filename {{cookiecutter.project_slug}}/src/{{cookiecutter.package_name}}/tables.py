"""Every table the project prints or writes, in one format: a GitHub-flavoured Markdown table.

rich lays it out (column widths, wide characters); the result reads aligned in a terminal and
renders as a table in a Markdown report, so printed and written tables are the same text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from io import StringIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Wide enough that rich never wraps or truncates a cell: reports are read, not fitted to a tty.
_WIDTH = 10_000


def _cell(value: object) -> Text:
    # Text, not str: rich would read "[...]" in a cell (a data value) as console markup.
    return Text("-" if value is None else str(value).replace("|", "\\|"))


def render(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, right: Collection[str] = ()
) -> str:
    """`rows` under `headers` as a Markdown table; columns named in `right` align right.

    None prints as "-"; "|" inside a cell is escaped so the table keeps its columns.
    """
    unknown = set(right) - set(headers)
    if unknown:
        raise ValueError(f"right-aligned columns {sorted(unknown)} are not among the headers")
    table = Table(box=box.MARKDOWN, pad_edge=True)
    for header in headers:
        table.add_column(_cell(header), justify="right" if header in right else "left")
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a row has {len(row)} cells for {len(headers)} columns: {row!r}")
        table.add_row(*(_cell(value) for value in row))
    out = StringIO()
    Console(file=out, width=_WIDTH, color_system=None, legacy_windows=False).print(table)
    lines = [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
    # rich draws the rule under the header as dashes only; Markdown marks alignment with ":".
    rule = lines[1].split("|")[1:-1]
    marked = (
        dashes[:-1] + ":" if header in right else dashes
        for header, dashes in zip(headers, rule, strict=True)
    )
    lines[1] = "|" + "|".join(marked) + "|"
    return "\n".join(lines)

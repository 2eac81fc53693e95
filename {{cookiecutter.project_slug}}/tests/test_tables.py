"""tables.render: the one table format (GitHub Markdown) every printed and written table uses."""

from __future__ import annotations

import re

import pytest

from {{ cookiecutter.package_name }}.tables import render


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_a_markdown_table_with_aligned_columns() -> None:
    text = render(
        ["server", "req/s", "note"],
        [["this server", "7444", ""], ["a much longer name", "361", "slow"]],
        right=["req/s"],
    )
    lines = text.splitlines()
    assert _cells(lines[0]) == ["server", "req/s", "note"]
    assert re.fullmatch(r"\|-+\|-+:\|-+\|", lines[1]), lines[1]
    assert _cells(lines[3]) == ["a much longer name", "361", "slow"]
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header
    assert lines[2].index("7444") + len("7444") == lines[3].index("361") + len("361")


def test_cells_are_literal_and_keep_the_columns() -> None:
    text = render(["value", "other"], [["[bold]x[/bold] a|b", None]])
    row = text.splitlines()[2]
    assert _cells(row) == ["[bold]x[/bold] a\\|b", "-"]


def test_an_empty_table_keeps_its_header() -> None:
    assert render(["a", "b"], []).splitlines() == ["| a | b |", "|---|---|"]


def test_mistakes_are_refused() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        render(["a", "b", "c"], [["1", "2"]])
    with pytest.raises(ValueError, match="not among the headers"):
        render(["a"], [["1"]], right=["b"])

"""exporter/dojo/names.py at its edges, found by mutation testing:

- a refused template says in words what is allowed and why an empty name is refused, for the person who wrote it;
- a name exactly as long as the limit is kept as it is (shortening it would rename a test that fits);
- a split test's title names part 1 unless told otherwise.
"""

from __future__ import annotations

import re

import pytest

from exporter.dojo.names import check_template, fit, title_for


@pytest.mark.parametrize("template", ["{cluster.__class__}", "{scope!r}", "{family:>99}", "{namespace}"])
def test_a_refused_placeholder_is_explained_in_full(template: str) -> None:
    expected = (
        f"{template} is not allowed: use only {{cluster}}, {{scanner}}, {{family}} and {{scope}}, without "
        "attribute access, indexing, conversions or format specs"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        check_template(template, "product")


@pytest.mark.parametrize("template", ["", "   ", " \t"])
def test_an_empty_name_is_refused_because_defectdojo_needs_one(template: str) -> None:
    with pytest.raises(ValueError, match=r"^gives an empty name; DefectDojo needs one$"):
        check_template(template, "engagement")


def test_a_name_exactly_at_the_limit_is_kept_whole() -> None:
    assert fit("x" * 255, 255) == "x" * 255
    assert title_for("t" * 255) == "t" * 255
    assert title_for("vulnerability shop", "i" * 236) == "vulnerability shop " + "i" * 236


def test_a_split_title_names_part_one_by_default() -> None:
    assert title_for("vulnerability shop", parts=3) == "vulnerability shop (part 1 of 3)"

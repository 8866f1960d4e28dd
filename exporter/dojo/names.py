"""The names the exporter gives DefectDojo's product type, product, engagement and tests: templates and limits.

A template takes the placeholders {cluster}, {scanner}, {family} and {scope} and nothing else: no attribute access,
indexing, conversions or format specs, which would let a settings file read Python objects
(`{cluster.__class__.__mro__}`) or pad a name to a gigabyte (`{cluster:>999999999}`). Each template is checked when
the settings are loaded, rendered with the longest value every placeholder can take, against the length of the
column DefectDojo stores the name in; an empty name is refused too.

A Kubescape image scan's test is titled after its scope with the image appended, and an image reference alone can be
longer than a title (a 255-character repository and a 128-character tag). Such a title is shortened when the plan is
made, not refused: it keeps its start and ends in `~` and 8 hex digits of a digest of the whole title, so that two
long images stay two tests, a title is the same every night, and `(part i of n)` stays readable at the end.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping

from exporter.catalog import Family, Scanner

PLACEHOLDERS = ("cluster", "scanner", "family", "scope")

LIMITS = {"product_type": 255, "product": 255, "engagement": 300, "test": 255, "service": 200}
"""Characters DefectDojo stores (3.2.0): Product_Type.name, Product.name, Engagement.name, Test.title (max_length of
their CharFields in dojo/{product_type,product,engagement,test}/models.py) and Finding.service (200, in
dojo/finding/models.py: the reimport's `service` is set on every finding). A longer name fails the import."""

_WHAT = {"product_type": "a product type name", "product": "a product name", "engagement": "an engagement name",
         "test": "a test title"}  # fmt: skip

DNS_LABEL = 63
"""The longest cluster name (the `cluster` setting's pattern) and the longest namespace (a Kubernetes DNS label)."""

LONGEST = {
    "cluster": "c" * DNS_LABEL,
    "scanner": max((scanner.value for scanner in Scanner), key=len),
    "family": max((family.value for family in Family), key=len),
    "scope": "n" * DNS_LABEL,
}
"""The worst case a template is checked with: the longest value each placeholder can take."""


def check_template(template: str, field: str) -> str:
    """`template` when it uses only the placeholders and its longest rendering fits DefectDojo; ValueError else."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    for _, name, spec, conversion in parsed:
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(
                f"{shown} is not allowed: use only {{cluster}}, {{scanner}}, {{family}} and {{scope}}, without "
                "attribute access, indexing, conversions or format specs"
            )
    rendered = render(template, LONGEST)
    if not rendered.strip():
        raise ValueError("gives an empty name; DefectDojo needs one")
    if len(rendered) > LIMITS[field]:
        raise ValueError(
            f"gives names of up to {len(rendered)} characters (with a {DNS_LABEL}-character cluster name and "
            f"namespace), longer than the {LIMITS[field]} DefectDojo stores for {_WHAT[field]}"
        )
    return template


def render(template: str, values: Mapping[str, str]) -> str:
    """A checked template with the placeholders filled in."""
    return template.format_map(values)


def fit(name: str, limit: int) -> str:
    """`name`, or when longer than `limit` its start, `~` and 8 hex digits of its digest: stable and distinct."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1]}~{digest}"


def title_for(scope_title: str, subject: str = "", *, part: int = 1, parts: int = 1) -> str:
    """A test's title: its scope's (the rendered template), the image for an image's test, the part when split;
    shortened to DefectDojo's limit before the part, which stays readable."""
    suffix = f" (part {part} of {parts})" if parts > 1 else ""
    head = f"{scope_title} {subject}" if subject else scope_title
    return fit(head, LIMITS["test"] - len(suffix)) + suffix

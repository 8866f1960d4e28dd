"""Test titles that an image name would push past DefectDojo's 255 characters are shortened, stably and distinctly."""

from __future__ import annotations

from exporter.config import DojoSettings
from exporter.dojo import plan
from exporter.dojo.names import fit, title_for

TITLE_LIMIT = 255  # DefectDojo 3.2.0, dojo/test/models.py: Test.title = CharField(max_length=255)
LONG_IMAGE = "registry.example.com/" + "team/" * 60 + "service"  # a repository name may be 255 characters


def test_a_title_that_fits_is_left_alone() -> None:
    assert title_for("vulnerability shop", "docker.io/library/nginx:1.25") == (
        "vulnerability shop docker.io/library/nginx:1.25"
    )
    assert title_for("vulnerability shop", parts=4, part=2) == "vulnerability shop (part 2 of 4)"


def test_a_long_image_title_is_shortened_stably_and_distinctly() -> None:
    first = title_for("vulnerability shop", f"{LONG_IMAGE}:1.0")
    second = title_for("vulnerability shop", f"{LONG_IMAGE}:2.0")
    assert len(first) == len(second) == TITLE_LIMIT
    assert first.startswith("vulnerability shop registry.example.com/team/team/")
    assert first != second, "two images stay two tests"
    assert first == title_for("vulnerability shop", f"{LONG_IMAGE}:1.0"), "the same every night"
    assert first[-9] == "~" and all(c in "0123456789abcdef" for c in first[-8:])


def test_the_part_stays_readable_when_a_title_is_shortened() -> None:
    title = title_for("vulnerability shop", f"{LONG_IMAGE}:1.0", part=3, parts=16)
    assert len(title) == TITLE_LIMIT and title.endswith(" (part 3 of 16)")


def test_the_plan_titles_an_image_test_within_defectdojos_limit() -> None:
    key = plan.TestKey("kubescape", "vulnerability", "n" * 63, subject=f"{LONG_IMAGE}:1.0")
    context = plan.context_for(key, "Anchore Grype", "c" * 63, DojoSettings())
    assert len(context.title) == TITLE_LIMIT and context.title.startswith(f"vulnerability {'n' * 63} registry.")
    assert context.product == "c" * 63 and context.engagement == "kubescape"


def test_fit_keeps_short_names_and_cuts_long_ones_to_the_limit() -> None:
    assert fit("short", 10) == "short"
    assert len(fit("x" * 11, 10)) == 10


def test_a_long_image_keeps_the_service_within_what_defectdojo_stores() -> None:
    from exporter.config import load_settings
    from exporter.dojo.plan import TestKey, context_for

    image = "registry.example.com/" + "very-long-team-name/" * 12 + "app:1.0"
    key = TestKey("kubescape", "vulnerability", "shop", subject=image)
    context = context_for(key, "Anchore Grype", "prod", load_settings(environ={}, flags={}).dojo)
    assert len(context.service) == 200 and context.service.startswith("prod/kubescape/vulnerability/shop/registry")
    other = context_for(TestKey("kubescape", "vulnerability", "shop", subject=image + "x"), "Anchore Grype", "prod",
                        load_settings(environ={}, flags={}).dojo)  # fmt: skip
    assert other.service != context.service, "two long images keep two services"

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter import selectors

LABELS = {"app": "web", "tier": "frontend", "trivy-operator.resource.kind": "ReplicaSet"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app=db", False),
        ("missing!=x", True),
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("tier in (frontend,backend)", True),
        ("tier notin (frontend, backend)", False),
        ("app=web,tier=backend", False),
        ("app=web, trivy-operator.resource.kind=ReplicaSet", True),
    ],
)
def test_selector_matches_like_the_api_server(selector: str, expected: bool) -> None:
    assert selectors.parse(selector)(LABELS) is expected


@pytest.mark.parametrize("selector", ["app=web=x", "in (a)", "a in b"])
def test_invalid_selector_is_rejected(selector: str) -> None:
    with pytest.raises(selectors.SelectorError):
        selectors.parse(selector)


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"])))
def test_a_requirement_and_its_negation_never_agree(labels: dict[str, str]) -> None:
    for positive, negative in (("a=x", "a!=x"), ("b", "!b"), ("c in (x)", "c notin (x)")):
        assert selectors.parse(positive)(labels) != selectors.parse(negative)(labels)

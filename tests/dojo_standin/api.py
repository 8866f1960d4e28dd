"""The model endpoints: product types, products, engagements, tests and findings.

Lists page as DRF's ``LimitOffsetPagination`` with ``PAGE_SIZE`` 25 (``REST_FRAMEWORK`` in
``dojo/settings/settings.dist.py``); ``next``/``previous`` are absolute URLs with sorted parameters, as
``replace_query_param`` writes them. Filters follow ``dojo/filters.py``: ``products/?name=`` *contains*
(``ApiProductFilter.name`` is ``icontains``, ``name_exact`` is the exact one), ``findings/?title=`` contains, the
rest are exact. A boolean filter value django-filter cannot read is ignored, not refused, as the real one does.
PATCH on a finding applies ``FindingSerializer.validate`` and ``finding/helper.py`` ``update_finding_status``
(a false positive or out-of-scope finding is also mitigated, inactive and unverified; reactivating clears them).
PATCH on a test changes its ``title`` (``TestSerializer``; ``Test.engagement`` is ``editable=False``, so a test
never moves), on an engagement its ``name`` (``EngagementSerializer``); the lengths are the models' max_length.
DELETE on a test removes it and its findings (``Finding.test`` is ``on_delete=CASCADE``; with the default
``ASYNC_OBJECT_DELETE`` off it happens before the 204). ``tests/?engagement=`` is a model choice filter, so an id
that names no engagement is a 400, not an empty page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from tests.dojo_standin.forms import ApiError, FieldReader, Form, detail, field_errors
from tests.dojo_standin.records import (
    SEVERITY_RANK,
    USER_ID,
    Engagement,
    Finding,
    JsonObject,
    Product,
    ProductType,
    Store,
    Test,
    utcnow,
)

Query = dict[str, list[str]]
PAGE_SIZE = 25
COLLECTIONS = ("product_types", "products", "engagements", "tests", "findings")
# rest_framework/generics.py get_object_or_404 -> NotFound("No %s matches the given query." % model._meta.object_name)
MODEL_NAMES = {
    "product_types": "Product_Type",
    "products": "Product",
    "engagements": "Engagement",
    "tests": "Test",
    "findings": "Finding",
}
WRITABLE = {
    "product_types": ("POST",),
    "products": ("POST", "PATCH"),
    "engagements": ("POST", "PATCH"),
    "tests": ("PATCH", "DELETE"),
    "findings": ("PATCH",),
}
_DETAIL_METHODS = ("PATCH", "DELETE")
INVALID_CHOICE = "Select a valid choice. That choice is not one of the available choices."


def allowed_methods(collection: str, *, detail_view: bool) -> tuple[str, ...]:
    """The methods the stand-in serves there: reads everywhere, only the writes a client of the exporter needs."""
    writes = WRITABLE.get(collection, ())
    return ("GET", *(m for m in writes if (m in _DETAIL_METHODS) == detail_view))


def list_objects(store: Store, collection: str, query: Query, page_url: str) -> JsonObject:
    """GET on a collection: filtered, ordered as the model is, one page of it."""
    objects = _filtered(store, collection, query)
    return _paginate([_render(store, collection, obj) for obj in objects], query, page_url)


def get_object(store: Store, collection: str, object_id: int) -> JsonObject:
    """GET on one object, 404 with DRF's message when it does not exist."""
    return _render(store, collection, _lookup(store, collection, object_id))


def create_object(store: Store, collection: str, body: JsonObject) -> JsonObject:
    """POST on a collection, with the model serializer's required fields and uniqueness checks."""
    creators: dict[str, Callable[[Store, JsonObject], Any]] = {
        "product_types": _create_product_type,
        "products": _create_product,
        "engagements": _create_engagement,
    }
    return _render(store, collection, creators[collection](store, body))


def patch_object(store: Store, collection: str, object_id: int, body: JsonObject) -> JsonObject:
    """PATCH on a finding (an analyst's triage), a product (its risk acceptance switch), a test's title or an
    engagement's name."""
    obj = _lookup(store, collection, object_id)
    if isinstance(obj, Finding):
        _patch_finding(store, obj, body)
    elif isinstance(obj, Product):
        _patch_product(store, obj, body)
    elif isinstance(obj, Test):
        obj.title = _patched_name(body, "title", obj.title, 255)
    elif isinstance(obj, Engagement):
        obj.name = _patched_name(body, "name", obj.name, 300)
    return _render(store, collection, obj)


def _patched_name(body: JsonObject, name: str, current: str | None, max_length: int) -> str | None:
    """A nullable, blank-allowed CharField of a model serializer: its new value, or DRF's 400 when too long.
    Fields the stand-in does not model are ignored, as read-only fields (``engagement`` of a test) are."""
    if name not in body:
        return current
    value = body[name]
    if value is not None and len(str(value)) > max_length:
        raise field_errors({name: [(f"Ensure this field has no more than {max_length} characters.", "max_length")]})
    return None if value is None else str(value)


def delete_object(store: Store, collection: str, object_id: int) -> None:
    """DELETE on a test: the test and, by cascade, its findings; 404 when it does not exist."""
    test = _lookup(store, collection, object_id)
    for finding in store.findings_of_test(test.id):
        del store.findings[finding.id]
    del store.tests[test.id]


def _lookup(store: Store, collection: str, object_id: int) -> Any:
    objects: dict[int, Any] = getattr(store, collection)
    if object_id not in objects:
        raise detail(404, f"No {MODEL_NAMES[collection]} matches the given query.")
    return objects[object_id]


def _render(store: Store, collection: str, obj: Any) -> JsonObject:
    if isinstance(obj, Product):
        count = sum(1 for f in store.findings.values() if store.finding_in(f, product=obj.id))
        return obj.to_json(count)
    rendered: JsonObject = obj.to_json()
    return rendered


def _filtered(store: Store, collection: str, query: Query) -> list[Any]:
    if collection == "tests" and query.get("engagement"):
        _engagement_choice(store, query["engagement"][-1])
    objects = list(getattr(store, collection).values())
    checks = _FILTERS[collection]
    for name, values in query.items():
        if name in checks and values:
            predicate = checks[name](values[-1], name)
            if predicate is not None:
                objects = [obj for obj in objects if predicate(store, obj)]
    if collection == "findings":
        # Finding.Meta.ordering: numerical_severity, -date, title (the id only breaks remaining ties here).
        return sorted(objects, key=lambda f: (SEVERITY_RANK[f.severity], -f.date.toordinal(), f.title, f.id))
    return sorted(objects, key=lambda obj: obj.id)


def _engagement_choice(store: Store, value: str) -> None:
    """``ApiTestFilter.engagement`` (a ModelChoiceFilter from ``Meta.fields``): the id must name an engagement."""
    if not value.isdigit() or int(value) not in store.engagements:
        raise field_errors({"engagement": [(INVALID_CHOICE, "invalid_choice")]})


Predicate = Callable[[Store, Any], bool]


def _exact(attribute: str) -> Callable[[str, str], Predicate]:
    return lambda value, _name: lambda _store, obj: str(getattr(obj, attribute)) == value


def _contains(attribute: str, *, exact: bool = False) -> Callable[[str, str], Predicate]:
    def make(value: str, _name: str) -> Predicate:
        wanted = value.lower()
        return lambda _store, obj: (
            (str(getattr(obj, attribute) or "").lower() == wanted)
            if exact
            else wanted in str(getattr(obj, attribute) or "").lower()
        )

    return make


def _number_in(attribute: str | Callable[[Store, Any], int]) -> Callable[[str, str], Predicate]:
    def make(value: str, name: str) -> Predicate:
        try:
            wanted = {int(part) for part in value.split(",") if part.strip()}
        except ValueError:
            raise field_errors({name: [("Enter a number.", "invalid")]}) from None
        if callable(attribute):
            return lambda store, obj: attribute(store, obj) in wanted
        return lambda _store, obj: getattr(obj, attribute) in wanted

    return make


def _boolean(attribute: str) -> Callable[[str, str], Predicate | None]:
    def make(value: str, _name: str) -> Predicate | None:
        # NullBooleanSelect: anything but these spellings means "no filter".
        wanted = {"true": True, "2": True, "false": False, "3": False}.get(value.lower())
        if wanted is None:
            return None
        return lambda _store, obj: bool(getattr(obj, attribute)) is wanted

    return make


def _engagement_of(store: Store, finding: Any) -> int:
    return int(store.tests[finding.test].engagement)


def _product_of(store: Store, finding: Any) -> int:
    return store.engagements[store.tests[finding.test].engagement].product


def _product_name_is(value: str, _name: str) -> Predicate:
    return lambda store, finding: store.products[_product_of(store, finding)].name.lower() == value.lower()


_FILTERS: dict[str, dict[str, Callable[[str, str], Predicate | None]]] = {
    "product_types": {"id": _exact("id"), "name": _exact("name")},
    "products": {
        "id": _number_in("id"),
        "name": _contains("name"),
        "name_exact": _contains("name", exact=True),
        "prod_type": _number_in("prod_type"),
    },
    "engagements": {
        "id": _exact("id"),
        "name": _exact("name"),
        "product": _exact("product"),
        "status": _exact("status"),
        "active": _boolean("active"),
    },
    "tests": {
        "id": _exact("id"),
        "engagement": _exact("engagement"),
        "title": _exact("title"),
        "scan_type": _exact("scan_type"),
        "test_type": _exact("test_type"),
    },
    "findings": {
        "id": _number_in("id"),
        "test": _exact("test"),
        "test__engagement": _number_in(_engagement_of),
        "test__engagement__product": _number_in(_product_of),
        "product_name": _product_name_is,
        "title": _contains("title"),
        "severity": lambda value, _name: lambda _store, f: f.severity in value.split(","),
        "service": _exact("service"),
        "hash_code": _contains("hash_code"),
        "unique_id_from_tool": _contains("unique_id_from_tool"),
        "vuln_id_from_tool": _exact("vuln_id_from_tool"),
        "component_name": _contains("component_name"),
        **{
            flag: _boolean(flag)
            for flag in (
                "active",
                "verified",
                "false_p",
                "duplicate",
                "out_of_scope",
                "risk_accepted",
                "is_mitigated",
                "under_review",
                "static_finding",
                "dynamic_finding",
            )
        },
    },
}


def _paginate(results: list[JsonObject], query: Query, page_url: str) -> JsonObject:
    limit = _positive(query.get("limit"), PAGE_SIZE, strict=True)
    offset = _positive(query.get("offset"), 0, strict=False)
    url = page_url + ("?" + urlencode(query, doseq=True) if query else "")
    next_url = None
    if offset + limit < len(results):
        next_url = _replace_params(url, {"limit": str(limit), "offset": str(offset + limit)})
    previous_url = None
    if offset > 0:
        if offset - limit <= 0:
            previous_url = _replace_params(url, {"limit": str(limit)}, remove="offset")
        else:
            previous_url = _replace_params(url, {"limit": str(limit), "offset": str(offset - limit)})
    return {
        "count": len(results),
        "next": next_url,
        "previous": previous_url,
        "results": results[offset : offset + limit],
    }


def _positive(values: list[str] | None, default: int, *, strict: bool) -> int:
    """``_positive_int``: a bad or (strict) zero value silently falls back to the default."""
    try:
        number = int(values[-1]) if values else default
    except ValueError:
        return default
    if number < 0 or (strict and number == 0):
        return default
    return number


def _replace_params(url: str, params: dict[str, str], *, remove: str | None = None) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    for key, value in params.items():
        query[key] = [value]
    if remove:
        query.pop(remove, None)
    return urlunsplit(parts._replace(query=urlencode(sorted(query.items()), doseq=True)))


def _reader(body: JsonObject) -> FieldReader:
    return FieldReader(Form(values={k: [_as_text(v)] for k, v in body.items() if v is not None}))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _create_product_type(store: Store, body: JsonObject) -> ProductType:
    read = _reader(body)
    name = read.char("name", required=True)
    if name and any(t.name == name for t in store.product_types.values()):
        read.fail("name", "product_ type with this name already exists.", "unique")
    read.check()
    product_type = ProductType(
        id=store.next_id("product_type"),
        name=name or "",
        description=str(body.get("description") or ""),
        critical_product=read.boolean("critical_product"),
        key_product=read.boolean("key_product"),
    )
    store.product_types[product_type.id] = product_type
    return product_type


def _create_product(store: Store, body: JsonObject) -> Product:
    read = _reader(body)
    name = read.char("name", required=True)
    description = read.char("description", required=True)
    if "prod_type" not in body:
        read.fail("prod_type", "This field is required.", "required")
    prod_type = read.primary_key("prod_type", store.product_types)
    if name and any(p.name == name for p in store.products.values()):
        read.fail("name", "product with this name already exists.", "unique")
    read.check()
    product = Product(
        id=store.next_id("product"),
        name=name or "",
        description=description or "",
        prod_type=prod_type or 0,
        enable_simple_risk_acceptance=read.boolean("enable_simple_risk_acceptance"),
    )
    store.products[product.id] = product
    return product


def _create_engagement(store: Store, body: JsonObject) -> Engagement:
    read = _reader(body)
    for required in ("target_start", "target_end", "product"):
        if required not in body:
            read.fail(required, "This field is required.", "required")
    start, end = read.day("target_start"), read.day("target_end")
    product = read.primary_key("product", store.products)
    engagement_type = read.choice("engagement_type", ("Interactive", "CI/CD"), "Interactive")
    read.check()
    if start and end and start > end:
        raise field_errors({"non_field_errors": [("Your target start date exceeds your target end date", "invalid")]})
    engagement = Engagement(
        id=store.next_id("engagement"),
        name=read.char("name"),
        product=product or 0,
        target_start=start or date.today(),
        target_end=end or date.today(),
        engagement_type=engagement_type,
        status=str(body.get("status") or ""),
        deduplication_on_engagement=read.boolean("deduplication_on_engagement"),
        source_code_management_uri=read.char("source_code_management_uri"),
        description=read.char("description"),
        version=read.char("version"),
        build_id=read.char("build_id"),
        commit_hash=read.char("commit_hash"),
        branch_tag=read.char("branch_tag"),
    )
    read.check()
    store.engagements[engagement.id] = engagement
    return engagement


_FINDING_FLAGS = ("active", "verified", "false_p", "duplicate", "out_of_scope", "risk_accepted", "under_review",
                  "is_mitigated")  # fmt: skip
_FINDING_TEXTS = ("title", "description", "mitigation", "references", "component_name", "component_version")


def _patch_finding(store: Store, finding: Finding, body: JsonObject) -> None:
    read = _reader(body)
    flags = {name: read.boolean(name) for name in _FINDING_FLAGS if name in body}
    severity = read.choice("severity", tuple(SEVERITY_RANK), finding.severity)
    read.check()
    merged = {name: flags.get(name, getattr(finding, name)) for name in _FINDING_FLAGS}
    problem = None
    if (merged["active"] or merged["verified"]) and merged["duplicate"]:
        problem = "Duplicate findings cannot be verified or active"
    elif merged["false_p"] and merged["verified"]:
        problem = "False positive findings cannot be verified."
    elif merged["risk_accepted"] and not finding.risk_accepted and not _product_allows_simple_risk(store, finding):
        problem = "Simple risk acceptance is disabled for this product, use the UI to accept this finding."
    elif merged["active"] and merged["risk_accepted"]:
        problem = "Active findings cannot be risk accepted."
    if problem:
        raise field_errors({"non_field_errors": [(problem, "invalid")]})
    changed = {name for name, value in flags.items() if value != getattr(finding, name)}
    for name, value in flags.items():
        setattr(finding, name, value)
    finding.severity = severity
    for name in _FINDING_TEXTS:
        if name in body:
            setattr(finding, name, body[name])
    _update_finding_status(finding, changed)


def _product_allows_simple_risk(store: Store, finding: Finding) -> bool:
    return store.products[store.engagements[store.tests[finding.test].engagement].product].enable_simple_risk_acceptance


def _update_finding_status(finding: Finding, changed: set[str]) -> None:
    """``update_finding_status`` (pre_save): the dependent flags a status change drags along."""
    now = utcnow()
    if "is_mitigated" in changed:
        if finding.is_mitigated:
            finding.mitigated = finding.mitigated or now
            finding.mitigated_by = finding.mitigated_by or USER_ID
        else:
            finding.mitigated, finding.mitigated_by = None, None
    if "active" in changed and finding.active:
        finding.false_p = finding.out_of_scope = finding.is_mitigated = False
        finding.mitigated, finding.mitigated_by = None, None
    if changed & {"false_p", "out_of_scope"} and (finding.false_p or finding.out_of_scope):
        # "existing behaviour is that false_p or out_of_scope implies mitigated"
        finding.mitigated = finding.mitigated or now
        finding.mitigated_by = finding.mitigated_by or USER_ID
        finding.is_mitigated, finding.active, finding.verified = True, False, False
    if changed:
        finding.last_status_update = now


def _patch_product(store: Store, product: Product, body: JsonObject) -> None:
    read = _reader(body)
    name = read.char("name") if "name" in body else product.name
    if name != product.name and any(p.name == name for p in store.products.values()):
        read.fail("name", "product with this name already exists.", "unique")
    description = read.char("description") if "description" in body else product.description
    simple = read.boolean("enable_simple_risk_acceptance", default=product.enable_simple_risk_acceptance)
    read.check()
    product.name, product.description = name or product.name, description or product.description
    product.enable_simple_risk_acceptance = simple


def method_not_allowed(method: str, allowed: tuple[str, ...]) -> ApiError:
    """DRF's 405, with the Allow header it sends."""
    error = detail(405, f'Method "{method}" not allowed.')
    error.headers.append(("Allow", ", ".join((*allowed, "HEAD", "OPTIONS"))))
    return error

"""What an import-scan / reimport-scan form asks for, and where its findings go.

``read_scan_request`` validates the form as ``CommonImportScanSerializer`` and its two subclasses do
(``dojo/api_v2/serializers.py``: field errors first, then ``validate``: the file is required and at most
``SCAN_FILE_MAX_SIZE`` MB, ``is_scan_file_too_large`` in ``dojo/utils.py``). The lookups and creators copy
``dojo/importers/auto_create_context.py`` ``AutoCreateContextManager``: by id first, then by name, the *last*
(highest id) engagement or test when several match, and creation only with ``auto_create_context``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import PurePath

from tests.dojo_standin.forms import (
    FieldReader,
    Form,
    Upload,
    django_validation_error,
    field_errors,
    internal_error,
)
from tests.dojo_standin.records import SEVERITY_RANK, Engagement, Product, ProductType, Store, Test, utcnow

# dojo/validators.py ImporterFileExtensionValidator.default_allowed_extensions
ALLOWED_EXTENSIONS = ("xml", "csv", "nessus", "json", "jsonl", "html", "js", "zip", "xlsx", "txt", "sarif", "fpr")
SEVERITY_CHOICES = ("Info", "Low", "Medium", "High", "Critical")


@dataclass
class ScanRequest:
    """The validated form of one import-scan or reimport-scan call."""

    reimport: bool
    scan_type: str
    upload: Upload | None
    product_type_name: str | None = None
    product_name: str | None = None
    engagement_name: str | None = None
    engagement_id: int | None = None
    test_id: int | None = None
    test_title: str | None = None
    auto_create_context: bool = False
    deduplication_on_engagement: bool = False
    close_old_findings: bool = False
    close_old_findings_product_scope: bool = False
    do_not_reactivate: bool = False
    service: str | None = None
    active: bool | None = None
    verified: bool | None = None
    minimum_severity: str = "Info"
    scan_date: date | None = None
    engagement_end_date: date | None = None
    tags: list[str] = field(default_factory=list)
    version: str | None = None
    build_id: str | None = None
    branch_tag: str | None = None
    commit_hash: str | None = None
    source_code_management_uri: str | None = None

    def echo(self) -> dict[str, object]:
        """The serializer's own fields in the 201 body (DRF renders the validated data back)."""
        data: dict[str, object] = {
            "scan_type": self.scan_type, "minimum_severity": self.minimum_severity, "active": bool(self.active),
            "verified": bool(self.verified), "auto_create_context": self.auto_create_context,
            "deduplication_on_engagement": self.deduplication_on_engagement,
            "close_old_findings": self.close_old_findings,
            "close_old_findings_product_scope": self.close_old_findings_product_scope, "push_to_jira": False,
            "create_finding_groups_for_all_findings": True, "endpoint_to_add": None, "lead": None,
            "api_scan_configuration": None, "tags": list(self.tags), "pro": [],
        }  # fmt: skip
        if self.reimport:
            data["do_not_reactivate"] = self.do_not_reactivate
        elif self.engagement_id is not None:
            data["engagement"] = self.engagement_id
        optional = {
            "product_type_name": self.product_type_name, "product_name": self.product_name,
            "engagement_name": self.engagement_name, "test_title": self.test_title, "service": self.service,
            "version": self.version, "build_id": self.build_id, "branch_tag": self.branch_tag,
            "commit_hash": self.commit_hash, "source_code_management_uri": self.source_code_management_uri,
            "scan_date": self.scan_date.isoformat() if self.scan_date else None,
            "engagement_end_date": self.engagement_end_date.isoformat() if self.engagement_end_date else None,
        }  # fmt: skip
        data.update({name: value for name, value in optional.items() if value is not None})
        return data


def read_scan_request(
    form: Form, store: Store, *, reimport: bool, max_file_size_mb: float, scan_types: Collection[str] | None
) -> ScanRequest:
    """Validate like the serializer: every field error at once (400), then the whole-form checks."""
    read = FieldReader(form)
    scan_type = read.char("scan_type", required=True) or ""
    if scan_type and scan_types is not None and scan_type not in scan_types:
        read.fail("scan_type", f'"{scan_type}" is not a valid choice.', "invalid_choice")
    upload = _upload(form, read)
    request = ScanRequest(
        reimport=reimport,
        scan_type=scan_type,
        upload=upload,
        product_type_name=read.char("product_type_name"),
        product_name=read.char("product_name"),
        engagement_name=read.char("engagement_name"),
        engagement_id=None if reimport else read.primary_key("engagement", store.engagements),
        test_id=read.primary_key("test", store.tests) if reimport else None,
        test_title=read.char("test_title"),
        auto_create_context=read.boolean("auto_create_context"),
        deduplication_on_engagement=read.boolean("deduplication_on_engagement"),
        # ReImportScanSerializer keeps the old API behaviour: close_old_findings defaults to True there only.
        close_old_findings=read.boolean("close_old_findings", default=reimport),
        close_old_findings_product_scope=read.boolean("close_old_findings_product_scope"),
        do_not_reactivate=read.boolean("do_not_reactivate") if reimport else False,
        service=read.char("service"),
        active=read.optional_boolean("active"),
        verified=read.optional_boolean("verified"),
        minimum_severity=read.choice("minimum_severity", SEVERITY_CHOICES, "Info"),
        scan_date=read.day("scan_date"),
        engagement_end_date=read.day("engagement_end_date"),
        tags=read.tags(),
        version=read.char("version"),
        build_id=read.char("build_id"),
        branch_tag=read.char("branch_tag"),
        commit_hash=read.char("commit_hash"),
        source_code_management_uri=read.char("source_code_management_uri"),
    )
    if request.scan_date and request.scan_date > date.today():
        read.fail("scan_date", "The scan_date cannot be in the future!", "invalid")
    read.check()
    # CommonImportScanSerializer.validate: runs only once every field is valid.
    if upload is None:
        raise field_errors({"non_field_errors": [(f"Uploading a Report File is required for {scan_type}", "invalid")]})
    if len(upload.content) / 1048576 > max_file_size_mb:
        message = f"Report file is too large. Maximum supported size is {max_file_size_mb:g} MB"
        raise field_errors({"non_field_errors": [(message, "invalid")]})
    return request


def _upload(form: Form, read: FieldReader) -> Upload | None:
    upload = form.files.get("file")
    if upload is None:
        if "file" in form.values:
            read.fail("file", "The submitted data was not a file. Check the encoding type on the form.", "invalid")
        return None
    extension = PurePath(upload.name).suffix.lstrip(".").lower()
    if extension not in ALLOWED_EXTENSIONS:
        read.fail(
            "file",
            f"File extension \u201c{extension}\u201d is not allowed. "
            f"Allowed extensions are: {', '.join(ALLOWED_EXTENSIONS)}.",
            "invalid_extension",
        )
    return upload


def target_product(store: Store, request: ScanRequest) -> Product | None:
    """``get_target_product_if_exists``: by exact name; a product type name that disagrees is an error."""
    if not request.product_name:
        return None
    product = next((p for p in store.products.values() if p.name == request.product_name), None)
    if product is not None and request.product_type_name:
        existing = store.product_types[product.prod_type].name
        if existing != request.product_type_name:
            raise django_validation_error(
                "The fetched product has a conflict with the supplied product type name: "
                f"existing product type name - {existing} vs "
                f"supplied product type name - {request.product_type_name}"
            )
    return product


def target_engagement(store: Store, request: ScanRequest, product: Product | None) -> Engagement | None:
    """``get_target_engagement_if_exists``: by id, else the last engagement of that name in the product."""
    if request.engagement_id is not None and request.engagement_id in store.engagements:
        return store.engagements[request.engagement_id]
    if product is None:
        return None
    named = [e for e in store.engagements.values() if e.product == product.id and e.name == request.engagement_name]
    return max(named, key=lambda engagement: engagement.id, default=None)


def target_test(store: Store, request: ScanRequest, engagement: Engagement | None) -> Test | None:
    """``get_target_test_if_exists``: by id, else the *last* test of the engagement with that scan type and title.

    ``get_last_object_or_none`` orders by primary key, so the newest match wins even when it holds no finding (a
    failed import's leftover); without ``test_title`` the title is not compared at all.
    """
    if request.test_id is not None and request.test_id in store.tests:
        return store.tests[request.test_id]
    if engagement is None:
        return None
    matching = [
        test
        for test in store.tests.values()
        if test.engagement == engagement.id
        and test.scan_type == request.scan_type
        and (not request.test_title or test.title == request.test_title)
    ]
    return max(matching, key=lambda test: test.id, default=None)


def get_or_create_engagement(store: Store, request: ScanRequest) -> Engagement:
    """``get_or_create_engagement``: an existing one, or (auto_create_context) product type, product, engagement."""
    engagement = target_engagement(store, request, target_product(store, request))
    if engagement is not None:
        return engagement
    if not request.auto_create_context:
        raise django_validation_error("auto_create_context not True, unable to create non-existing engagement")
    product = _get_or_create_product(store, request)
    today = utcnow().date()
    end = request.engagement_end_date
    if end is None or today > end:
        end = today + timedelta(days=365)
    engagement = Engagement(
        id=store.next_id("engagement"),
        name=request.engagement_name,
        product=product.id,
        target_start=today,
        target_end=end,
        engagement_type="CI/CD",
        status="In Progress",
        deduplication_on_engagement=request.deduplication_on_engagement,
        source_code_management_uri=request.source_code_management_uri,
    )
    store.engagements[engagement.id] = engagement
    return engagement


def _get_or_create_product(store: Store, request: ScanRequest) -> Product:
    product = target_product(store, request)
    if product is not None:
        return product
    if not request.auto_create_context:
        raise django_validation_error("auto_create_context not True, unable to create non-existing product")
    if not request.product_name or not request.product_type_name:
        # Product/Product_Type.objects.get_or_create(name=None): an IntegrityError, which the handler makes a 500.
        raise internal_error()
    product_type = next((t for t in store.product_types.values() if t.name == request.product_type_name), None)
    if product_type is None:
        product_type = ProductType(id=store.next_id("product_type"), name=request.product_type_name)
        store.product_types[product_type.id] = product_type
    product = Product(
        id=store.next_id("product"),
        name=request.product_name,
        description=request.product_name,
        prod_type=product_type.id,
    )
    store.products[product.id] = product
    return product


def below_minimum(severity: str, minimum: str) -> bool:
    """``Finding.SEVERITIES[severity] > Finding.SEVERITIES[minimum_severity]``: the importers skip the finding."""
    return SEVERITY_RANK[severity] > SEVERITY_RANK[minimum]

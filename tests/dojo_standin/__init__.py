"""An in-process HTTP stand-in for the slice of DefectDojo's REST API v2 that report-exporter talks to.

DefectDojo cannot run in the test environment, so the product's DefectDojo client is tested against this:
the real paths (trailing slashes included), status codes, error bodies, pagination and filters, and the real
import/reimport semantics (auto-created context, which test a reimport picks, matching on the dedupe key,
closing per service, reactivation, false positives and risk acceptance left alone, the statistics block).
Each behaviour cites the DefectDojo function it copies. Parsing is delegated to a parser module
(``tests.dojo_parsers`` by default) so that the stand-in itself holds no scanner knowledge.

Deliberately absent: cross-test deduplication (``System_Settings.enable_deduplication`` is off by default),
JIRA, finding groups, endpoints/locations, notes and files as objects, and DELETE of anything but a test.
"""

from tests.dojo_standin.importer import ParserModule
from tests.dojo_standin.records import CLOSED, CREATED, REACTIVATED, UNTOUCHED
from tests.dojo_standin.server import NOT_AUTHENTICATED, NOT_PERMITTED, DojoStandin, RecordedRequest, nginx_page

__all__ = [
    "CLOSED",
    "CREATED",
    "NOT_AUTHENTICATED",
    "NOT_PERMITTED",
    "REACTIVATED",
    "UNTOUCHED",
    "DojoStandin",
    "ParserModule",
    "RecordedRequest",
    "nginx_page",
]

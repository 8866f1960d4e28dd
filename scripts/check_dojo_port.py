"""Compare the parser port (tests/dojo_parsers.py) with DefectDojo's own parser tests, from a DefectDojo checkout.

For every file under the checkout's `unittests/scans/{trivy_operator,anchore_grype,kubescape}/` the port parses the
file, and the number of findings is compared with what the upstream unit test asserts for that file
(`self.assertEqual(N, len(findings))`, either argument order, N an int or `len(<list literal>)`), read from
`unittests/tools/test_<tool>_parser.py` by a walk of its syntax tree.

The upstream test functions are then run against the port, for their spot checks (title, severity, component,
vulnerability ids, file_path, mitigation, description...): each test module is read from the checkout, its imports
are replaced by stand-ins whose parser is the port, and every `self.assert...` statement is wrapped so that it
counts as passed, failed, or not ported (it reads a Finding attribute the port does not carry: tags, cvss, epss,
fix_available...). Tests of what the port does not model (Grype's "detailed" mode, the list of scan types) are
left out. Nothing of DefectDojo is copied here: its files are read from the checkout at run time only.

    python scripts/check_dojo_port.py /path/to/django-DefectDojo [--markdown]
"""

from __future__ import annotations

import argparse
import ast
import sys
import unittest
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import dojo_parsers  # noqa: E402


@dataclass(frozen=True)
class Suite:
    """One upstream parser: its scan type, its parser class name, its sample folder and its unit test module."""

    scan_type: str
    parser_class: str
    scans: str
    tests: str


SUITES = (
    Suite(dojo_parsers.TRIVY_OPERATOR, "TrivyOperatorParser", "unittests/scans/trivy_operator",
          "unittests/tools/test_trivy_operator_parser.py"),
    Suite(dojo_parsers.ANCHORE_GRYPE, "AnchoreGrypeParser", "unittests/scans/anchore_grype",
          "unittests/tools/test_anchore_grype_parser.py"),
    Suite(dojo_parsers.KUBESCAPE, "KubescapeParser", "unittests/scans/kubescape",
          "unittests/tools/test_kubescape_parser.py"),
)  # fmt: skip

# The ParsedFinding fields under the names upstream's tests read them by.
PORTED_ATTRIBUTES = {name: name for name in dojo_parsers.ParsedFinding.__dataclass_fields__} | {
    "unsaved_vulnerability_ids": "vulnerability_ids",
}


@dataclass
class Checks:
    """The spot checks of the upstream tests that read one file."""

    passed: int = 0
    failed: list[str] = field(default_factory=list)
    not_ported: set[str] = field(default_factory=set)
    skipped_tests: list[str] = field(default_factory=list)

    def fail(self, where: object, exc: BaseException) -> None:
        self.failed.append(f"{where}: {type(exc).__name__}: {str(exc)[:300]}")


@dataclass
class Row:
    suite: Suite
    name: str
    expected: list[int]
    ported: int | str
    checks: Checks

    @property
    def count_agrees(self) -> bool | None:
        """None when upstream's parser tests assert no count for the file."""
        return all(count == self.ported for count in self.expected) if self.expected else None

    @property
    def agrees(self) -> bool | None:
        """The count agrees and no field the tests check differs."""
        return None if self.count_agrees is None else self.count_agrees and not self.checks.failed


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("checkout", type=Path, help="a DefectDojo checkout (its unittests/ folder is enough)")
    arguments.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    options = arguments.parse_args()
    rows = [row for suite in SUITES for row in compare_suite(options.checkout, suite)]
    print_table(rows, markdown=options.markdown)
    return 0 if all(row.agrees is not False for row in rows) else 1


def compare_suite(checkout: Path, suite: Suite) -> Iterator[Row]:
    source = (checkout / suite.tests).read_text(encoding="utf-8")
    module = ast.parse(source)
    expected = expected_counts(module)
    checks = run_upstream_tests(checkout, suite, module)
    for path in sorted((checkout / suite.scans).glob("*")):
        outcome = checks.get(path.name, Checks())
        yield Row(suite, path.name, expected.get(path.name, []), ported_count(suite, path), outcome)


def ported_count(suite: Suite, path: Path) -> int | str:
    try:
        return len(dojo_parsers.parse(suite.scan_type, path.read_bytes()))
    except dojo_parsers.ParserError as exc:
        return f"error: {exc}"


def expected_counts(module: ast.Module) -> dict[str, list[int]]:
    """{sample file: the finding counts the default-mode tests assert for it}."""
    counts: dict[str, list[int]] = {}
    for test in test_functions(module):
        sample = sample_name(test)
        if sample is None or changes_mode(test):
            continue
        lists = {
            target.id: len(node.value.elts)
            for node in ast.walk(test)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in ast.walk(test):
            if isinstance(call, ast.Call) and _is_self_call(call, "assertEqual") and len(call.args) == 2:
                first, second = call.args
                for length, other in ((first, second), (second, first)):
                    if _is_len_of(length, "findings") and (count := _literal_count(other, lists)) is not None:
                        counts.setdefault(sample, []).append(count)
    return counts


def test_functions(module: ast.Module) -> Iterator[ast.FunctionDef]:
    for node in ast.walk(module):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            yield node


def sample_name(test: ast.FunctionDef) -> str | None:
    for node in ast.walk(test):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".json"):
            return node.value
    return None


def changes_mode(test: ast.FunctionDef) -> bool:
    return any(
        isinstance(node, ast.Attribute) and node.attr in {"set_mode", "get_scan_types"} for node in ast.walk(test)
    )


def _is_self_call(call: ast.Call, name: str | None = None) -> bool:
    function = call.func
    return (
        isinstance(function, ast.Attribute)
        and isinstance(function.value, ast.Name)
        and function.value.id == "self"
        and (function.attr == name if name else function.attr.startswith("assert"))
    )


def _is_len_of(node: ast.expr, name: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "len"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == name
    )


def _literal_count(node: ast.expr, lists: dict[str, int]) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len" and node.args:
        argument = node.args[0]
        if isinstance(argument, ast.Name) and argument.id in lists:
            return lists[argument.id]
    return None


# --- running the upstream tests against the port -------------------------------------------------------------------


class NotPortedError(AttributeError):
    """An upstream test read a Finding attribute the port does not carry."""


class PortedFinding:
    """A ParsedFinding under upstream's attribute names; any other attribute is NotPorted."""

    def __init__(self, finding: dojo_parsers.ParsedFinding) -> None:
        self._finding = finding

    def __getattr__(self, name: str) -> Any:
        if name not in PORTED_ATTRIBUTES:
            raise NotPortedError(name)
        value = getattr(self._finding, PORTED_ATTRIBUTES[name])
        return list(value) if isinstance(value, tuple) else value


def port_parser_class(scan_type: str) -> type:
    class PortParser:
        def get_findings(self, file: Any, test: Any) -> list[PortedFinding]:
            content = file.read()
            raw = content.encode("utf-8") if isinstance(content, str) else content
            return [PortedFinding(finding) for finding in dojo_parsers.parse(scan_type, raw)]

    return PortParser


def run_upstream_tests(checkout: Path, suite: Suite, module: ast.Module) -> dict[str, Checks]:
    """{sample file: the outcome of the spot checks of the default-mode tests that read it}."""
    module.body = [node for node in module.body if not _imports_from_defectdojo(node)]
    module = ast.fix_missing_locations(_WrapAsserts().visit(module))
    recorder: list[Checks] = [Checks()]
    namespace: dict[str, Any] = {
        "__name__": "upstream_test",
        "DojoTestCase": unittest.TestCase,
        "Test": type("Test", (), {}),
        "Finding": type("Finding", (), {"SEVERITIES": dict.fromkeys(dojo_parsers.SEVERITIES)}),
        "get_unit_tests_scans_path": lambda name: checkout / "unittests" / "scans" / name,
        suite.parser_class: port_parser_class(suite.scan_type),
        "__checks__": lambda: recorder[0],
        "__NotPorted__": NotPortedError,
    }
    exec(compile(module, str(checkout / suite.tests), "exec"), namespace)
    results: dict[str, Checks] = {}
    for test in test_functions(module):
        sample = sample_name(test)
        if sample is None:
            continue
        checks = results.setdefault(sample, Checks())
        if changes_mode(test):
            checks.skipped_tests.append(test.name)
            continue
        recorder[0] = checks
        case_class = next(value for value in namespace.values() if isinstance(value, type) and test.name in vars(value))
        _run_one(case_class(test.name), test.name, checks)
    return results


def _imports_from_defectdojo(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {"dojo", "unittests"}


def _run_one(case: unittest.TestCase, name: str, checks: Checks) -> None:
    """Run one test; what stops it early (the port's ParserError, say) counts as a failed check."""
    try:
        getattr(case, name)()
    except NotPortedError as exc:
        checks.not_ported.add(str(exc))
    except Exception as exc:
        checks.fail(name, exc)


class _WrapAsserts(ast.NodeTransformer):
    """`self.assertX(...)` -> try: it; passed; except AssertionError: failed; except NotPorted: not ported."""

    def visit_Expr(self, node: ast.Expr) -> ast.stmt:
        if not (isinstance(node.value, ast.Call) and _is_self_call(node.value)):
            return node
        wrapped = ast.parse(
            "try:\n    pass\n"
            f"except AssertionError as exc:\n    __checks__().fail('line {node.lineno}', exc)\n"
            "except __NotPorted__ as exc:\n    __checks__().not_ported.add(str(exc))\n"
            "else:\n    __checks__().passed += 1\n"
        ).body[0]
        assert isinstance(wrapped, ast.Try)
        wrapped.body = [node]
        return ast.copy_location(wrapped, node)


# --- output --------------------------------------------------------------------------------------------------------


def print_table(rows: list[Row], *, markdown: bool) -> None:
    header = ("file", "expected", "ported", "OK", "spot checks")
    lines = [header] + [_cells(row) for row in rows]
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for cells in lines[1:]:
            print("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    else:
        widths = [max(len(cells[index]) for cells in lines) for index in range(len(header))]
        for cells in lines:
            print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())
    for row in rows:
        for failure in row.checks.failed:
            print(f"FAILED {row.suite.scans}/{row.name}: {failure}")
    counted = [row for row in rows if row.agrees is not None]
    uncounted = ", ".join(row.name for row in rows if row.agrees is None)
    if uncounted:
        print(f"parsed, but no count asserted by upstream's parser tests: {uncounted}")
    print(f"{len(counted)} files, {sum(1 for row in counted if row.agrees)} agree")


def _cells(row: Row) -> tuple[str, str, str, str, str]:
    expected = "/".join(str(count) for count in row.expected) or "-"
    verdicts = {None: "-", True: "OK", False: "fields differ" if row.count_agrees else "count differs"}
    agrees = verdicts[row.agrees]
    checks = row.checks
    spot = f"{checks.passed} passed" + (f", {len(checks.failed)} failed" if checks.failed else "")
    if checks.not_ported:
        spot += f"; not ported: {', '.join(sorted(checks.not_ported))}"
    if checks.skipped_tests:
        spot += f"; skipped: {', '.join(checks.skipped_tests)}"
    return f"{row.suite.scans.rsplit('/', 1)[-1]}/{row.name}", expected, str(row.ported), agrees, spot


if __name__ == "__main__":
    sys.exit(main())

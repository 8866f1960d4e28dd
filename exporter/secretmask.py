"""Exposed secrets masked before they are written: the run directory, the archive and DefectDojo never hold one.

An ExposedSecretReport's `report.secrets[].match` is the line where trivy found the secret. trivy censors the secret
in it with `*` (`AWS_ACCESS_KEY_ID=********************`), but not every version or configuration does, and an
uncensored match would go verbatim to the archive and into DefectDojo's finding. A match is masked here unless it
holds a run of at least four `*`, trivy's censoring (such a match is left exactly as it is: DefectDojo's hash of
a Trivy finding includes its description, which quotes the match, so rewriting it would close and re-open every
secret finding once).

The masked form keeps the first 4 characters when the match has 16 or more (a token's kind, `AKIA`, `ghp_`, shows
without giving away what an attacker needs), at most 16 `*` and the length:

    AKIAIOSFODNN7EXAMPLE   ->  AKIA****************  (20 characters)
    hunter2                ->  *******  (7 characters)

The masked form is itself censored by that rule, so masking twice changes nothing. Where the secret sits in the
line cannot be known, so the whole match is masked; the finding keeps its rule, title, category and file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PREFIX_CHARACTERS = 4
PREFIX_FROM_LENGTH = 16
MAX_STARS = 16
_CENSORED = re.compile(r"\*{4,}")


def mask_match(match: str) -> str:
    """An uncensored match masked (see the module's docstring); a censored or empty one unchanged."""
    if not match or _CENSORED.search(match):
        return match
    prefix = match[:PREFIX_CHARACTERS] if len(match) >= PREFIX_FROM_LENGTH else ""
    stars = "*" * min(max(len(match) - len(prefix), 4), MAX_STARS)
    return f"{prefix}{stars}  ({len(match)} characters)"


def mask_secret_report(report: Any) -> tuple[Any, int]:
    """An ExposedSecretReport's `report` with every uncensored match masked, and how many were; the input is not
    changed. Anything that is not the expected shape is returned as it is: the getter's checks report it."""
    if not isinstance(report, Mapping) or not isinstance(report.get("secrets"), list):
        return report, 0
    masked = 0
    secrets: list[Any] = []
    for secret in report["secrets"]:
        match = secret.get("match") if isinstance(secret, Mapping) else None
        shown = mask_match(match) if isinstance(match, str) else match
        if shown != match:
            masked += 1
        secrets.append({**secret, "match": shown} if shown != match else secret)
    return ({**report, "secrets": secrets} if masked else report), masked

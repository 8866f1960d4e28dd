"""URLs as they may be shown: in a message, a log line or the manifest, never with the password they carry.

`DD_URL`, `AWS_ENDPOINT_URL_S3` and a kubeconfig's server may hold credentials as userinfo
(`https://user:secret@host`). Everything that names an endpoint to a person goes through `redact_url`; text that
may quote a URL the exporter did not format itself (an exception from botocore or urllib3) goes through
`redact_urls`. The user name is kept, since it tells which account was used; the password becomes `***`. Userinfo
without a colon is masked whole: a lone userinfo is usually a token (`https://<token>@host`), not a name.

What cannot be told apart is left alone: a URL whose password holds an unencoded `/`, `?` or `#` ends its
authority there for every URL parser too, so such a URL fails before anything shows it.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://userinfo@ : the userinfo runs to the LAST `@` before the path, query or fragment, so a password with an
# unencoded `@` is masked whole; an `@` in the path is never mistaken for one.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#@]*(?:@[^\s/?#@]*)*)@")


def redact_url(url: str) -> str:
    """`url` with the password of its userinfo masked: `https://user:***@host:8443/path`."""
    match = _USERINFO.match(url)
    if match is None:
        return url
    return f"{match['scheme']}{_shown(match['userinfo'])}@{url[match.end() :]}"


def redact_urls(text: str) -> str:
    """Every URL in free text with its password masked, the rest of the text unchanged."""
    return _USERINFO.sub(lambda match: f"{match['scheme']}{_shown(match['userinfo'])}@", text)


def _shown(userinfo: str) -> str:
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}" if colon else MASK

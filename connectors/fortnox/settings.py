"""The ``[fortnox]`` settings (``DSAR_FORTNOX__*``): an OAuth client with a rotating token.

Defaults from Fortnox's documentation: the API at ``https://api.fortnox.se/3``, the token
endpoint ``https://apps.fortnox.se/oauth-v1/token``
(https://www.fortnox.se/developer/authorization/get-refresh-token), list pages of at most 500
(``limit`` 1–500, …/guides-and-good-to-know/parameters) and 25 requests per 5 seconds
(…/guides-and-good-to-know/rate-limits-for-fortnox-api).
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from connectors.sdk.base import ConnectorSettings
from hub.http import HttpPolicy

OAUTH_ENDPOINT = "https://apps.fortnox.se/oauth-v1/token"
AUTHORIZE_ENDPOINT = "https://apps.fortnox.se/oauth-v1/auth"


class FortnoxSettings(ConnectorSettings):
    base_url: str = "https://api.fortnox.se/3"
    token_url: str = Field(
        OAUTH_ENDPOINT,
        description="The OAuth token endpoint: an absolute URL, or a path on base_url's host "
        "(the sandbox serves both on one address).",
    )
    auth_url: str = Field(
        AUTHORIZE_ENDPOINT,
        description="Where the web inbox's \"Connect Fortnox\" sends the browser to authorise "
        "(https://www.fortnox.se/developer/authorization): an absolute URL, or a path on "
        "base_url's host like token_url.",
    )
    redirect_uri: str | None = Field(
        None, description="The web inbox's callback as registered with the Fortnox app "
        "(…/oauth/fortnox/callback); unset: the address the browser reached the inbox at.",
    )
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = Field(
        None, description="Seeds the state store once; a new value (re-authorisation) takes over."
    )
    page_size: int = Field(500, ge=1, le=500, description="Items per list page (Fortnox: ≤ 500).")
    invoice_details: bool = Field(
        True,
        description="Fetch each invoice in full: its copies of address, phone and e-mail are "
        "personal data (GDPR Art. 15). Off: the list fields only, one request per page.",
    )
    http: HttpPolicy = Field(
        default_factory=lambda: HttpPolicy(rate_limit_requests=25, rate_limit_seconds=5.0)
    )
    required_credentials = ("client_id", "client_secret", "refresh_token")

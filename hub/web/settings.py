"""The inbox's settings page: each processor's state in words, the Stripe and MailerLite keys,
"Connect Fortnox" (:mod:`hub.web.oauth`) and the check ``dsar config check`` makes.

Why keys can be entered here: the owner sets the hub up in the browser. A key entered is saved
encrypted in the hub's database (:mod:`hub.store.credentials`), never shown again (only its last
four characters) and never logged; the audit log records that it was saved, not what it is. The
configuration (environment, ``.env``, TOML) still wins where it sets a key: the page says which
of the two the connector uses. A saved key takes effect at once: the running server's settings
are updated in place, so every page, lookup and job of this server that reads them (they share
one settings object) uses it from the next connection on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.config.check import check_all
from hub.config.settings import env_name
from hub.store.credentials import configured_value, filled, source
from hub.web import oauth
from hub.web.auth import Session
from hub.web.base import field, guarded, redirect, render, state
from hub.web.stored import saved_credentials

#: The processors whose key this page takes, and the setting each key is.
KEY_FIELDS = {"stripe": "api_key", "mailerlite": "api_token"}
#: Shorter than this is no real key (Stripe's are over 100 characters, MailerLite's a JWT).
MIN_KEY_LENGTH = 12
#: Longer than this is no key either (a MailerLite token, the longest, is about a thousand).
MAX_KEY_LENGTH = 4096
#: Stripe's secret and restricted keys; a publishable key (``pk_``) cannot read customers.
STRIPE_PREFIXES = ("sk_", "rk_")


def refusal(processor: str, value: str) -> str | None:
    """Why ``value`` cannot be ``processor``'s key (a text key), or None."""
    if not value:
        return "settings.err_empty"
    if any(char.isspace() for char in value):
        return "settings.err_space"
    if not value.isascii() or not value.isprintable():
        return "settings.err_chars"
    if processor == "stripe" and value.startswith("pk_"):
        return "settings.err_publishable"
    if processor == "stripe" and not value.startswith(STRIPE_PREFIXES):
        return "settings.err_stripe_prefix"
    if len(value) < MIN_KEY_LENGTH:
        return "settings.err_short"
    if len(value) > MAX_KEY_LENGTH:
        return "settings.err_long"
    return None


def _status(section: Any) -> str:
    if section.enabled is False:
        return "disabled"
    if section.enabled is None and not section.configured():
        return "not_set_up"
    return "missing" if section.missing_credentials() else "ready"


def _rows(request: Request) -> list[dict[str, Any]]:
    """One row per installed processor: its state, and for a key this page takes, where the
    key in use comes from."""
    web = state(request)
    settings = web.ctx.settings
    saved = saved_credentials(request).all(web.ctx.connectors)
    rows = []
    for name, cls in web.ctx.connectors.items():
        section = settings.processor(name)
        status = _status(section)
        row: dict[str, Any] = {
            "name": name, "title": cls.title, "status": status,
            "status_key": f"settings.status_{status}",
            "missing": ", ".join(env_name(name, f) for f in section.missing_credentials())}
        key_field = KEY_FIELDS.get(name)
        if key_field is not None:
            credential = saved.get((name, key_field))
            row.update(field=key_field, setting=env_name(name, key_field),
                       label_key=f"settings.key_label_{name}",
                       source=source(settings, name, key_field, credential),
                       saved=credential is not None,
                       ending=credential.ending if credential else "",
                       saved_on=credential.saved_at.date().isoformat() if credential else "")
        rows.append(row)
    return rows


def _fortnox(request: Request) -> dict[str, Any] | None:
    settings = oauth.fortnox_settings(request)
    if settings is None or "fortnox" not in state(request).ctx.connectors:
        return None
    credential = saved_credentials(request).get("fortnox", "refresh_token")
    return {"missing": ", ".join(oauth.missing_client(settings)),
            "connected_on": credential.saved_at.date().isoformat() if credential else "",
            "source": source(state(request).ctx.settings, "fortnox", "refresh_token",
                             credential),
            "redirect_uri": oauth.redirect_uri(request, settings)}


def _page(request: Request, session: Session, *, errors: dict[str, str] | None = None,
          checks: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    return render(request, "settings.html", status=status, session=session,
                  rows=_rows(request), fortnox=_fortnox(request), errors=errors or {},
                  checks=checks, saved=request.query_params.get("saved", ""))


async def settings_page(request: Request, session: Session, form: FormData | None) -> Response:
    return _page(request, session)


def _key_field(request: Request) -> tuple[str, str] | None:
    processor = request.path_params["processor"]
    key_field = KEY_FIELDS.get(processor)
    if key_field is None or processor not in state(request).ctx.connectors:
        return None
    return processor, key_field


def _use(request: Request, processor: str, key_field: str, value: str | None,
         previous: str | None) -> None:
    """Give the running server's settings ``value`` (None: no key) unless the configuration
    sets this key (see the module docstring)."""
    settings = state(request).ctx.settings
    current = configured_value(settings, processor, key_field)
    if current and current != previous:
        return  # the configuration's key: it stays in use
    section: BaseModel = settings.processor(processor)
    updated = (filled(section, key_field, value) if value is not None
               else section.model_copy(update={key_field: None}))
    setattr(settings, processor, updated)


async def save_key(request: Request, session: Session, form: FormData | None) -> Response:
    found = _key_field(request)
    if found is None:
        return render(request, "error.html", status=404, session=session,
                      message_key="settings.unknown_processor", back="/settings")
    processor, key_field = found
    value = field(form, "key")
    problem = refusal(processor, value)
    if problem is not None:
        return _page(request, session, errors={processor: problem}, status=400)
    saved = saved_credentials(request)
    previous = saved.get(processor, key_field)
    saved.save(processor, key_field, value)
    _use(request, processor, key_field, value, previous.value if previous else None)
    web = state(request)
    web.record("credentials.saved", processor=processor, setting=env_name(processor, key_field),
               in_use=source(web.ctx.settings, processor, key_field,
                             saved.get(processor, key_field)))
    return redirect(f"/settings?saved={processor}#{processor}")


async def remove_key(request: Request, session: Session, form: FormData | None) -> Response:
    found = _key_field(request)
    if found is None:
        return render(request, "error.html", status=404, session=session,
                      message_key="settings.unknown_processor", back="/settings")
    processor, key_field = found
    saved = saved_credentials(request)
    previous = saved.get(processor, key_field)
    if previous is not None:
        saved.remove(processor, key_field)
        _use(request, processor, key_field, None, previous.value)
        state(request).record("credentials.removed", processor=processor,
                              setting=env_name(processor, key_field))
    return redirect(f"/settings#{processor}")


async def run_check(request: Request, session: Session, form: FormData | None) -> Response:
    """``dsar config check``'s test of every enabled processor, one cheap read each."""
    web = state(request)
    checks = await check_all(web.ctx.settings, web.ctx.connectors,
                             **web.ctx.connector_options)
    web.record("config.checked", failed=sorted(c["name"] for c in checks if not c["ok"]))
    return _page(request, session, checks=checks)


ROUTES = [
    Route("/settings", guarded(settings_page), methods=["GET"]),
    Route("/settings/check", guarded(run_check), methods=["POST"]),
    Route("/settings/keys/{processor}", guarded(save_key), methods=["POST"]),
    Route("/settings/keys/{processor}/remove", guarded(remove_key), methods=["POST"]),
    *oauth.ROUTES,
]

"""The stores the settings pages write to: the connectors' encrypted token store and the saved
credentials kept in it.

Why not a new store: the connectors read their tokens from the store the server's context
hands them (its connector option ``state``), so a Fortnox connection made in the browser must
land in that very store, and a saved key beside it. A context without one (a test's) gets the
hub's encrypting store on the inbox's own database, made once per app.
"""

from __future__ import annotations

from starlette.requests import Request

from hub.store.credentials import SavedCredentials
from hub.store.state import StateStore, connector_state
from hub.web.base import state


def token_store(request: Request) -> StateStore:
    web = state(request)
    given = web.ctx.connector_options.get("state")
    if isinstance(given, StateStore) and given.sealer is not None:
        return given
    made = getattr(request.app.state, "token_store", None)
    if not isinstance(made, StateStore):
        made = request.app.state.token_store = connector_state(
            web.stores.ledger.engine, web.ctx.settings.state_dir)
    return made


def saved_credentials(request: Request) -> SavedCredentials:
    return SavedCredentials(token_store(request))

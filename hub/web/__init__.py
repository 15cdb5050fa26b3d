"""The web inbox (``dsar serve``): the owner's requests, deadlines and tasks in a browser.

A thin client of the use-cases in :mod:`hub.requests`, like the CLI: :mod:`.app` builds the
ASGI app, :mod:`.auth` decides who may use it, :mod:`.pages` holds the pages, :mod:`.lookups`
runs access lookups in the background. Imported only by ``dsar serve`` (lazily), so the
command line does not load Starlette.
"""

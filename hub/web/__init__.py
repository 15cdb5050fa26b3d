"""The web inbox (``dsar serve``): the owner's requests, deadlines and tasks in a browser.

A thin client of the use-cases in :mod:`hub.requests` and :mod:`hub.consent`, like the CLI, so
the browser and the terminal leave the same ledger entries. :mod:`.app` builds the ASGI app,
:mod:`.auth` decides who may use it and :mod:`.base` holds what every page shares (login
guard, CSRF, texts, templates). The pages: :mod:`.pages` (inbox, new request, a request, its
lookup, tasks and downloads), :mod:`.review` (the Art. 15(4) review, answer preview, "sent"),
:mod:`.erasure` and :mod:`.rectification` (plan, confirmation, result), :mod:`.consent`,
:mod:`.settings` with :mod:`.oauth` (Connect Fortnox). Long runs go to the background:
:mod:`.lookups` for lookups, :mod:`.runs` for plan-then-confirm flows. :mod:`.webhook` serves
MailerLite's webhook, here and alone (``dsar webhook serve``). Imported only by those two
commands (lazily), so the command line does not load Starlette.
"""

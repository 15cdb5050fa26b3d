"""Jobs for ``dsar worker``: the use-cases run by workers that share one PostgreSQL database.

* :mod:`.queue`    the procrastinate app: tasks, queues, locks, the periodic consent sync
* :mod:`.tasks`    what each job does (the access and erasure use-cases, the consent sync)
* :mod:`.defer`    queueing a request: opened in the ledger, its job queued
* :mod:`.settings` the ``[worker]`` settings (when the consent sync runs)

It sits above the use-cases it runs (:mod:`hub.requests`, :mod:`hub.consent`) and below the
CLI. procrastinate is imported only inside :mod:`.queue`'s functions.
"""

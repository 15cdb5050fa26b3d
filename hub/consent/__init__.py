"""Consent use cases: the scheduled sync and the webhook receiver.

``job`` runs one scheduled sync (lock, source, engine, propagation); ``sync`` is the
processor-neutral engine that reads a consent source incrementally and resumably; ``propagate``
pushes opt-outs to the other systems; ``webhook`` applies pushed deliveries. What a particular
processor's lists and webhooks look like belongs to its connector (:mod:`connectors.sdk.consent`).
"""

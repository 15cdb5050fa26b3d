"""Request use-cases: answering a data subject's request without any user interface.

``context`` is what a caller (the CLI, a scheduler, a web UI) hands a use-case; ``fanout`` runs
one operation at every enabled processor concurrently; ``access`` and ``erasure`` are the jobs of
the request types the hub answers itself, and ``registry`` maps each request type to its job.
"""

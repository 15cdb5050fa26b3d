"""dsar-hub: answer GDPR data-subject requests across a small business's SaaS processors.

The package is split by responsibility: ``settings`` (configuration), ``http`` (the one HTTP
policy every connector shares), ``lookup`` (the access job), ``reports`` (what we hand the
subject), ``cli`` (the ``dsar`` command) and ``sandbox`` (fake processors on loopback).
Connectors live in the sibling package ``connectors``.
"""

__version__ = "0.1.0"

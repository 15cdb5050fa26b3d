"""Processor connectors: one module per processor plus the contract they share (``base``).

Built-in connectors are registered through the ``dsar.connectors`` entry-point group exactly as
third-party ones are, so ``pip install dsar-connector-foo`` is all a new processor needs.
"""

"""Processor connectors: one module or package per processor, the SDK they are written against
(``sdk``: the contract, paginators, auth schemes, field paths, the injected key-value store) and
the declarative REST engine (``rest``: ``[booking]`` and every ``[rest.<name>]`` table).

Built-in connectors are registered through the ``dsar.connectors`` entry-point group exactly as
third-party ones are, so ``pip install dsar-connector-foo`` is all a new processor needs.
"""

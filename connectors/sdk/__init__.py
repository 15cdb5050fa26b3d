"""What every connector, built-in or third-party, is written against: the contract
(:mod:`connectors.sdk.base`), the contract test suite (:mod:`connectors.sdk.testing`) and the
reusable parts: paginators (:mod:`~connectors.sdk.paginators`), authentication schemes
(:mod:`~connectors.sdk.auth`), field paths and placeholders (:mod:`~connectors.sdk.fields`), URL
path segments from processor ids (:mod:`~connectors.sdk.paths`) and the key-value store the
hub injects (:mod:`~connectors.sdk.storage`)."""

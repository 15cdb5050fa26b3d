"""What every connector, built-in or third-party, is written against: the contract
(:mod:`connectors.sdk.base`) and the contract test suite (:mod:`connectors.sdk.testing`)."""

"""The sandbox: stateful fake processor APIs on loopback for end-to-end tests and demos.

Why: ``dsar --sandbox lookup EMAIL`` and the end-to-end tests run the real connector code over
real HTTP against fakes seeded with invented people, so no real account or network is needed.

    with Sandbox(latency=0.05) as sb:
        sb.base_urls["stripe"]        # "http://127.0.0.1:PORT" (connectors append /v1, /api)
        sb.credentials["stripe"]      # {"api_key": "sk_test_sandbox"}
        sb.servers["stripe"].request_count

Each processor lives in its own module exposing a :class:`~hub.sandbox.server.ProcessorSpec`;
adding one (Fortnox, Zettle, a booking system) means adding its module to ``PROCESSORS``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType
from typing import cast

from hub.sandbox import booking_api, fortnox_api, mailerlite_api, stripe_api, zettle_api
from hub.sandbox.server import FAIL_MODES, FailMode, FakeAPIServer, ProcessorSpec, SandboxOptions

__all__ = ["PROCESSORS", "Sandbox"]

PROCESSORS: Mapping[str, ProcessorSpec] = {
    spec.name: spec
    for spec in (stripe_api.SPEC, mailerlite_api.SPEC, fortnox_api.SPEC, zettle_api.SPEC,
                 booking_api.SPEC)
}


class Sandbox:
    """All fake processors, each with its own fresh copy of the seed data, run together."""

    def __init__(
        self,
        latency: float = 0.0,
        search_available: bool = True,
        fail: dict[str, str] | None = None,
    ) -> None:
        fail = dict(fail or {})
        unknown = set(fail) - set(PROCESSORS)
        if unknown:
            raise ValueError(
                f"unknown processor(s) in fail: {sorted(unknown)}; known: {sorted(PROCESSORS)}"
            )
        for name, mode in fail.items():
            if mode not in FAIL_MODES:
                raise ValueError(
                    f"fail[{name!r}] must be one of {sorted(FAIL_MODES)}, not {mode!r}"
                )
        self.servers: dict[str, FakeAPIServer] = {
            name: spec.build(
                SandboxOptions(
                    latency=latency,
                    fail_mode=cast(FailMode | None, fail.get(name)),
                    search_available=search_available,
                )
            )
            for name, spec in PROCESSORS.items()
        }
        self.credentials: dict[str, dict[str, str]] = {
            name: dict(spec.credentials) for name, spec in PROCESSORS.items()
        }
        self.base_urls: dict[str, str] = {}

    def start(self) -> Sandbox:
        try:
            for name, server in self.servers.items():
                server.start()
                self.base_urls[name] = server.base_url
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops the servers side by side: each takes up to its poll interval to notice, and
        a test suite starts and stops hundreds of sandboxes."""
        stopping = [threading.Thread(target=server.stop, name=f"stop-{name}")
                    for name, server in self.servers.items()]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        self.base_urls.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

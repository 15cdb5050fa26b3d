"""The REST engine: a processor declared in TOML, through its REST API or its exported list.

One class serves every declared processor: ``[booking]`` (:mod:`connectors.rest.booking`) and
each ``[rest.<name>]`` table (:mod:`connectors.rest.declared`); ``<table>`` below is either.
The first customer's booking site (Qlickboka) publishes no API, so ``mode = "export"`` reads
the customer list exported from its admin UI, and the report says erasure is a manual task
there. Systems with an API (BokaMera, the sandbox) are declared under ``[<table>.api]`` and read
with :class:`~connectors.rest.api.RestReader`; see ``config/booking-bokamera.toml``.

**Finding the subject.** Round one searches every top-level resource (customers) with the
declared e-mail search parameter, for each spelling of the address; round two
(:meth:`find_by_identifiers`) searches with the phone or personnummer parameters for numbers
other processors revealed. Every candidate is compared exactly (searches may be partial), and
a matching customer's child records (bookings) are read through the declared placeholders.
Phones and personnummer seen in the matched records are reported for widening.

**Erasing a record** (:meth:`RestConnector.erase`) sends the erase calls declared for its
record type (``[[<table>.api.resources.erase]]``, rendered by :meth:`erasure_plan` from the
stored record) whose action is the one asked for: a ``DELETE``, or an anonymising
``PUT``/``PATCH``/``POST``. A 404 means the record is already gone (also success). When the
declaration has only the other kind of call for the record type, the outcome is ``REFUSED`` with
that action as ``fallback`` (the declaration says how this system erases); with no call at all,
or in export mode, it is ``REFUSED`` as a manual task in the system's admin UI. Errors are
reported with the processor's own message from the declared ``error_message_path``. Nothing
declares an idempotency header, so none is sent: DELETE and PUT are idempotent, and an
anonymising PATCH/POST overwrites fields with the same values each time, so a retry is harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from connectors.rest.api import Raw, RestReader
from connectors.rest.export import ExportRow, cell, personal_cells, read_export
from connectors.rest.labels import DEFAULT_LABELS
from connectors.rest.matching import Match, identifiers_in, match, search_terms, to_record
from connectors.rest.settings import RestSettings
from connectors.rest.spec import ApiDeclaration, ErasureRequest, ResourceSpec
from connectors.rest.update import update_body
from connectors.sdk.base import (
    Capability,
    Connector,
    ConnectorSettings,
    ErasureAction,
    ErasureOutcome,
    ErasureState,
    Findings,
    personal_fields,
)
from connectors.sdk.consent import OptOutEvidence
from connectors.sdk.fields import MissingField, dig, render_path
from connectors.sdk.labels import RecordLabels
from connectors.sdk.paths import UnsafePathSegment
from hub.core.errors import ConfigurationError, ConnectorError, as_connector_error
from hub.core.models import Record
from hub.core.subject import Identifier, Subject
from hub.http import IDEMPOTENT_METHODS, REPLAYABLE, raise_for_response

SECONDS_PER_DAY = 86_400


def _personal_data(raw: Raw, fields: list[str]) -> dict[str, Any]:
    if "*" in fields:
        return personal_fields(raw, tuple(raw))
    return personal_fields({path: dig(raw, path) for path in fields}, tuple(fields))


class _Collected:
    """Records (deduplicated by type and id) and identifiers gathered during one search."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], Record] = {}
        self.identifiers: list[Identifier] = []

    def add(self, record: Record, identifiers: list[Identifier]) -> None:
        self.records.setdefault((record.type, record.id), record)
        self.identifiers += identifiers

    def findings(self, limits: Findings | None = None) -> Findings:
        """The records and identifiers gathered, with the ``limits`` of the search."""
        return (limits or Findings()).model_copy(update={
            "records": list(self.records.values()),
            "identifiers": list(dict.fromkeys(self.identifiers))})


class RestConnector(Connector):
    """The engine; each declared processor is a subclass naming it (``name``, ``title``,
    ``docs_url``, ``settings_model``)."""

    capabilities = frozenset({Capability.ACCESS, Capability.ERASURE})
    settings_model = RestSettings
    labels = DEFAULT_LABELS
    searchable_identifiers = frozenset({"email", "phone", "personnummer"})

    def __init__(
        self, settings: RestSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings, transport=transport)
        self.settings: RestSettings = settings
        self.processor = settings.system
        self._reader: RestReader | None = None
        self._export: tuple[list[ExportRow], float] | None = None
        if settings.mode == "export":
            assert settings.export is not None  # guaranteed by RestSettings' validator
            kinds = set(settings.export.identifiers.declared())
            # an export cannot be changed: erasure is a manual task (see erase)
            self.capabilities = frozenset({Capability.ACCESS})
            # a correction is a manual task too (see update)
            self.rectifiable_records = frozenset({"customer"})
        else:
            if settings.api is None:
                raise ConfigurationError(f"the {self.name} connector needs a "
                                         f"[{settings.names().table}.api] declaration")
            self._reader = RestReader(self._client(settings.api), settings.api, self.processor)
            kinds = {kind for root in settings.api.roots() for kind in root.search.declared()}
            self.rectifiable_records = frozenset(
                r.name for r in settings.api.resources if r.update is not None)
            if self.rectifiable_records:
                self.capabilities = self.capabilities | {Capability.RECTIFY}
                # the declared body names are the stored record's field names too
                self.rectify_fields = {
                    word: name for r in settings.api.resources if r.update is not None
                    for word, name in r.update.fields.items()}
            self.restrictable_records = frozenset(
                r.name for r in settings.api.resources if r.restrict is not None)
            if self.restrictable_records:
                self.capabilities = self.capabilities | {Capability.RESTRICT}
        # what this instance can be searched by, per its declaration (read by the hub)
        self.searchable_identifiers = frozenset(kinds)

    def _client(self, api: ApiDeclaration) -> httpx.AsyncClient:
        secrets = {name: self.settings.secret(name) for name in api.secret_names()}
        where = {name: self.settings.names().env(name) for name in api.secret_names()}
        headers = dict(api.headers)
        flow: httpx.Auth | None = None
        for scheme in (spec.scheme() for spec in api.auth):
            headers.update(scheme.headers(secrets))
            flow = scheme.flow(secrets, self.processor, where) or flow
        return self.http_client(self.settings.base_url, headers=headers, auth=flow)

    # -- the contract ---------------------------------------------------------------------------

    async def find_subject(self, subject: Subject) -> Findings:
        wanted = [Identifier(kind="email", value=v) for v in subject.email_variants()]
        return await self._find(subject, wanted)

    async def find_by_identifiers(
        self, subject: Subject, identifiers: list[Identifier]
    ) -> Findings:
        usable = [i for i in identifiers if i.kind in self.searchable_identifiers]
        return await self._find(subject, usable) if usable else Findings()

    async def check_credentials(self) -> str:
        if self._reader is None:
            rows, _ = await self._export_rows()
            return f"export file readable: {len(rows)} customer rows in {self._export_path.name}"
        root = self._reader.api.roots()[0]
        await self._reader.first_page(root)
        return f"credentials accepted (listed {root.name} records)"

    def erasure_plan(self, record: Record) -> list[ErasureRequest]:
        """The declared erase calls for a found record; none in export mode (manual task)."""
        if self._reader is None:
            return []
        return self._reader.api.erase_requests(record)

    async def erase(
        self,
        record: Record,
        action: ErasureAction,
        *,
        idempotency_key: str,
        fields: Sequence[str] = (),
    ) -> ErasureOutcome:
        """Send the declared erase calls of ``action`` for the record (see the module docstring).

        ``fields`` is not used: an anonymising call's body is declared, not chosen per request.
        """
        system = self.processor
        what = f"{record.type} {record.id}"
        verb = "delete" if action is ErasureAction.DELETE else "anonymise"
        if self._reader is None:
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"{system} has no API here (export mode): manual task in {system}'s admin "
                       f"UI: {verb} the {what} there (and, for a customer, their bookings)")
        try:
            calls = self.erasure_plan(record)
        except MissingField as missing:
            return ErasureOutcome(
                state=ErasureState.FAILED,
                detail=f"{system}: the stored {what} has no {missing.field!r} for the "
                       f"placeholder {missing} of its erase call; correct the declaration")
        except UnsafePathSegment as unsafe:
            return ErasureOutcome(state=ErasureState.FAILED, detail=f"{system} {what}: {unsafe}")
        resource = self._reader.api.resource(record.type)
        if not calls and resource is not None and resource.erased_with_parent:
            # Nothing to send: the parent's erase call removes it. The hub runs deletions
            # first and its verification lookup confirms the record is really gone.
            return ErasureOutcome(
                state=ErasureState.DONE,
                detail=f"erased by {system} together with its {resource.parent} (the API removes "
                       "a record's connected information); confirmed by the verification lookup")
        if not calls:
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"no erase call is declared for {record.type} records of {system}: manual "
                       f"task in {system}'s admin UI: {verb} the {what} there (or declare "
                       f"[[{self.settings.names().table}.api.resources.erase]] for "
                       f"{record.type!r})")
        wanted = [call for call in calls if call.action == action.value]
        if not wanted:
            declared = ErasureAction(calls[0].action)
            return ErasureOutcome(
                state=ErasureState.REFUSED, fallback=declared,
                detail=f"{system}'s declaration erases {record.type} records only by "
                       f"{'deletion' if declared is ErasureAction.DELETE else 'anonymisation'} "
                       f"({calls[0].method} {calls[0].path}); {verb} is not declared")
        try:
            return await self._send_erase_calls(self._reader, what, wanted)
        except (ConnectorError, httpx.TransportError) as exc:
            error = as_connector_error(exc, system)
            assert error is not None  # both kinds are connector errors
            return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))

    async def update(self, record_type: str, record_id: str, changes: Mapping[str, Any], *,
                     idempotency_key: str = "") -> ErasureOutcome:
        """Send the declared update call (``[[<table>.api.resources]] update``) with the new
        values under the processor's field names (:func:`~connectors.rest.update.update_body`);
        in export mode there is no API, so the correction is a manual task (REFUSED)."""
        system = self.processor
        if self._reader is None:
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"{system} has no API here (export mode): manual task in {system}'s admin "
                       f"UI: correct the {record_type} {record_id} there")
        resource = self._reader.api.resource(record_type)
        if resource is None or resource.update is None:
            return ErasureOutcome(state=ErasureState.REFUSED,
                                  detail=f"no update call is declared for {record_type} records "
                                         f"of {system}: correct it in {system}'s admin UI")
        call = resource.update
        try:
            path = render_path(call.path, {resource.name: {resource.id_field: record_id}})
            body = update_body(call.fields, changes)
            response = await self._reader.client.request(
                call.method, path, params={**self._reader.api.params, **call.params} or None,
                json=body)
            raise_for_response(response, system, self._reader.api.error_detail)
        except (ConnectorError, httpx.TransportError) as exc:
            error = as_connector_error(exc, system)
            assert error is not None  # both kinds are connector errors
            return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))
        return ErasureOutcome(state=ErasureState.DONE,
                              detail=f"{system}: {record_type} {record_id} updated ({call.method} "
                                     f"{path}: {', '.join(body)})")

    @classmethod
    def receives_opt_outs(cls, settings: ConnectorSettings) -> bool:
        """Only a declaration with an ``opt_out`` call (``[[<table>.api.resources]] opt_out``)
        can be told; an export, or an API declared without one, is not a destination."""
        return isinstance(settings, RestSettings) and settings.mode != "export" \
            and settings.api is not None \
            and any(r.opt_out is not None for r in settings.api.resources)

    async def record_opt_out(self, subject: Subject, evidence: OptOutEvidence) -> str:
        """Send the declared ``opt_out`` call (e.g. BokaMera's ``PUT /customers/{Id}`` with
        ``SubscribedToNewsletter = false``) for each record of the subject the declaration
        names one for. A record that already holds the declared values is left alone, so a
        retry sends nothing twice; a subject the processor does not know is a success.
        Errors raise (``ConnectorError``): the propagation records them and tries again."""
        system = self.processor
        if self._reader is None:
            raise ConfigurationError(f"{system} has no API here (export mode): it cannot be "
                                     "told about an opt-out")
        reader = self._reader
        findings = await self.find_subject(subject)
        sent: list[str] = []
        already: list[str] = []
        for record in findings.records:
            resource = reader.api.resource(record.type)
            if resource is None or resource.opt_out is None:
                continue
            call = resource.opt_out
            if all(record.data.get(k) == v for k, v in call.body.items()):
                already.append(f"{record.type} {record.id}")
                continue
            path = render_path(call.path, {resource.name: {resource.id_field: record.id}})
            response = await reader.client.request(
                call.method, path, params={**reader.api.params, **call.params} or None,
                json=call.body)
            raise_for_response(response, system, reader.api.error_detail)
            sent.append(f"{record.type} {record.id} ({call.method} {path}: "
                        f"{', '.join(call.body)})")
        if sent:
            return f"{system}: opt-out recorded on {'; '.join(sent)}"
        if already:
            return f"{system}: {', '.join(already)} already recorded as opted out"
        return f"{system}: no customer with this address"

    async def mark_restricted(self, record: Record, restricted: bool, *,
                              idempotency_key: str = "") -> ErasureOutcome:
        """Send the declared restrict call (``[[<table>.api.resources]] restrict``) with its
        ``mark`` or ``unmark`` body; without one (or in export mode) a person marks the record
        in the processor's admin UI (REFUSED)."""
        system = self.processor
        verb = "mark" if restricted else "unmark"
        resource = self._reader.api.resource(record.type) if self._reader else None
        if self._reader is None or resource is None or resource.restrict is None:
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"{system} declares no restrict call for {record.type} records: manual "
                       f"task in {system}'s admin UI: {verb} {record.type} {record.id} as "
                       "restricted (GDPR Art. 18)")
        call = resource.restrict
        try:
            path = render_path(call.path, {resource.name: {resource.id_field: record.id}})
            response = await self._reader.client.request(
                call.method, path, params={**self._reader.api.params, **call.params} or None,
                json=call.mark if restricted else call.unmark)
            raise_for_response(response, system, self._reader.api.error_detail)
        except (ConnectorError, httpx.TransportError) as exc:
            error = as_connector_error(exc, system)
            assert error is not None  # both kinds are connector errors
            return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))
        return ErasureOutcome(state=ErasureState.DONE,
                              detail=f"{system}: {record.type} {record.id} {verb}ed as "
                                     f"restricted ({call.method} {path})")

    async def _send_erase_calls(self, reader: RestReader, what: str,
                                calls: list[ErasureRequest]) -> ErasureOutcome:
        done: list[str] = []
        for call in calls:
            replayable = call.method not in IDEMPOTENT_METHODS  # an overwrite: same result twice
            response = await reader.client.request(
                call.method, call.path, params=call.params or None, json=call.json,
                extensions={REPLAYABLE: True} if replayable else None)
            if response.status_code == 404:
                if not done:
                    return ErasureOutcome(
                        state=ErasureState.ALREADY_GONE,
                        detail=f"{self.processor} has no {what} any more ({call.method} "
                               f"{call.path} answered HTTP 404)")
                break  # an earlier call of this erasure already removed it
            raise_for_response(response, self.processor, reader.api.error_detail)
            done.append(f"{call.method} {call.path} (HTTP {response.status_code})")
        past = "deleted" if calls[0].action == "delete" else "anonymised"
        return ErasureOutcome(state=ErasureState.DONE,
                              detail=f"{self.processor}: {what} {past}: {'; '.join(done)}")

    async def _find(self, subject: Subject, wanted: list[Identifier]) -> Findings:
        if self._reader is None:
            return await self._find_in_export(subject, wanted)
        return await self._find_in_api(self._reader, subject, wanted)

    # -- api mode -------------------------------------------------------------------------------

    async def _find_in_api(
        self, reader: RestReader, subject: Subject, wanted: list[Identifier]
    ) -> Findings:
        kinds = {i.kind for i in wanted}
        collected = _Collected()
        for resource in reader.api.roots():
            for raw in await self._candidates(reader, resource, wanted):
                found = match(subject, self._stored(raw, resource), kinds)
                if found is None:  # a partial search's neighbour: never reported
                    continue
                self._keep(collected, reader, resource, raw, found)
                for child, child_raw in await reader.children(resource, raw):
                    self._keep(collected, reader, child, child_raw, found)
        return collected.findings()

    async def _candidates(
        self, reader: RestReader, resource: ResourceSpec, wanted: list[Identifier]
    ) -> list[Raw]:
        params = resource.search.declared()
        candidates: dict[str, Raw] = {}
        for identifier in wanted:
            param = params.get(identifier.kind)
            if not param:
                continue
            for term in search_terms(identifier):
                for raw in await reader.search(resource, param, term):
                    candidates.setdefault(reader.record_id(raw, resource), raw)
        return list(candidates.values())

    @staticmethod
    def _stored(raw: Raw, resource: ResourceSpec) -> dict[str, Any]:
        return {kind: dig(raw, path) for kind, path in resource.identifiers.declared().items()}

    def _keep(self, collected: _Collected, reader: RestReader, resource: ResourceSpec,
              raw: Raw, found: Match) -> None:
        record = to_record(resource.name, reader.record_id(raw, resource),
                           _personal_data(raw, resource.personal_fields), found)
        collected.add(record, identifiers_in(self._stored(raw, resource), self.name))

    # -- export mode ----------------------------------------------------------------------------

    @property
    def _export_path(self) -> Path:
        assert self.settings.export_path is not None  # else skipped: missing export_path
        return self.settings.export_path

    async def _export_rows(self) -> tuple[list[ExportRow], float]:
        """The export's rows and modification time, read once per request."""
        if self._export is None:
            path, mapping = self._export_path, self.settings.export
            assert mapping is not None

            def load() -> tuple[list[ExportRow], float]:
                return read_export(path, mapping), path.stat().st_mtime

            self._export = await asyncio.to_thread(load)
        return self._export

    async def _find_in_export(self, subject: Subject, wanted: list[Identifier]) -> Findings:
        mapping = self.settings.export
        assert mapping is not None
        rows, modified = await self._export_rows()
        kinds = {i.kind for i in wanted}
        columns = mapping.identifiers.declared()
        collected = _Collected()
        for row in rows:
            stored = {kind: cell(row, column) for kind, column in columns.items()}
            found = match(subject, stored, kinds)
            if found is not None:
                record = to_record(mapping.record_type, row.id,
                                   personal_cells(row, mapping.personal_columns), found)
                collected.add(record, identifiers_in(stored, self.name))
        return collected.findings(self._export_limits(modified, bool(collected.records)))

    def _export_limits(self, modified: float, found: bool) -> Findings:
        """What searching an exported list instead of the live system means for the answer:
        an export older than ``export_max_age_days`` cannot prove absence, so a person looks."""
        saved = datetime.fromtimestamp(modified, tz=UTC).date().isoformat()
        system = self.processor
        age_days = (time.time() - modified) / SECONDS_PER_DAY
        stale = age_days > self.settings.export_max_age_days
        limits = Findings(manual=stale)
        limits.note(f"{system} has no API here: its exported customer list "
                    f"({self._export_path.name}, saved {saved}) was searched, not the live "
                    "system.", "rest.export_searched")
        if found:
            limits.note(f"Erasure will be a manual task: delete or anonymise the customer and "
                        f"their bookings in {system}'s admin UI; the hub cannot change it.")
        if stale:
            limits.note(f"The export is {age_days:.0f} days old (export_max_age_days = "
                        f"{self.settings.export_max_age_days:g}): customers added or changed "
                        f"since are missing; search {system}'s admin UI by hand, or export the "
                        "customer list again and re-run.", "rest.export_outdated",
                        incomplete=True)
        return limits

    @classmethod
    def configured_labels(cls, table: Mapping[str, Any]) -> RecordLabels:
        """The engine's defaults with the table's ``[<table>.labels]`` on top."""
        return cls.labels.merged(table.get("labels"))

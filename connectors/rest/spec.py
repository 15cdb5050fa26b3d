"""The declaration of a processor's REST API, validated before anything is contacted.

A user adds a simple REST processor by writing TOML, not Python (the model is dlt's rest_api
source, ``dlt/sources/rest_api/typing.py`` and ``config_setup.py``); ``<table>`` is ``booking``
or ``rest.<name>``::

    [<table>.api]                      # auth, default paging, error envelope
    [[<table>.api.resources]]          # a record type: where to list it, which fields matter
    [[<table>.api.resources.erase]]    # how to delete or anonymise one record (run later)

Every model refuses unknown keys (``extra="forbid"``), paging styles and auth schemes are looked
up in their registries, and the cross-resource rules below are checked at start-up, so a typo
becomes a :class:`ConfigurationError` naming the key instead of a silent "not found"
in the middle of a request:

* resource names are unique; a child names a parent declared before it;
* a child's path/params use a placeholder of its parent (``{customer.Id}``) and no other
  source; a top-level resource uses none and declares how to search it by e-mail;
* a search parameter exists only for an identifier whose field is declared (the hub always
  compares the stored value itself: searches may be partial);
* an erase call is DELETE without a body, or an anonymising PUT/PATCH/POST with one, and its
  placeholders name only the record's own id or personal fields, so the erasure job can render
  it from the stored record days later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.rest.naming import current
from connectors.sdk.auth import AUTH_SCHEMES, AuthScheme
from connectors.sdk.fields import dig, placeholders_in, render_path, render_value, stray_braces
from connectors.sdk.paginators import PAGINATORS, Paginator
from hub.core.models import Record

Scalar = str | int | float | bool
IdentifierKind = Literal["email", "phone", "personnummer"]


def describe(exc: ValidationError) -> str:
    """A ValidationError as ``key: problem; key: problem``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(table)'}: {err['msg']}" for err in exc.errors()
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Registered(BaseModel):
    """``type`` names a registered class; the other keys are that class's options."""

    model_config = ConfigDict(extra="allow", frozen=True)
    registry: ClassVar[Mapping[str, Any]]
    what: ClassVar[str]

    type: str

    @model_validator(mode="after")
    def _known_type_and_options(self) -> _Registered:
        cls = self.registry.get(self.type)
        if cls is None:
            raise ValueError(f"unknown {self.what} type {self.type!r}; "
                             f"known: {', '.join(sorted(self.registry))}")
        try:
            cls.Options.model_validate(self.model_extra or {})
        except ValidationError as exc:
            raise ValueError(f"{self.what} {self.type!r}: {describe(exc)}") from None
        return self

    def _options(self) -> Any:
        return self.registry[self.type].Options.model_validate(self.model_extra or {})


class PaginatorSpec(_Registered):
    registry = PAGINATORS
    what = "paginator"

    def build(self, processor: str) -> Paginator:
        return PAGINATORS[self.type](self._options(), processor)


class AuthSpec(_Registered):
    registry = AUTH_SCHEMES
    what = "auth"

    def scheme(self) -> AuthScheme:
        return AUTH_SCHEMES[self.type](self._options())


class IdentifierFields(_Strict):
    """Where a record keeps each identifier the hub can match on (field path or column)."""

    email: str | None = None
    phone: str | None = None
    personnummer: str | None = None

    def declared(self) -> dict[str, str]:
        return {kind: path for kind, path in self.model_dump().items() if path}


class SearchParams(_Strict):
    """The query parameter that searches a resource by each identifier kind."""

    email: str | None = None
    phone: str | None = None
    personnummer: str | None = None

    def declared(self) -> dict[str, str]:
        return {kind: param for kind, param in self.model_dump().items() if param}


@dataclass(frozen=True)
class ErasureRequest:
    """One rendered erase call, ready for the erasure job to send."""

    action: Literal["delete", "anonymise"]
    method: str
    path: str
    params: dict[str, Any]
    json: dict[str, Any] | None


class EraseCall(_Strict):
    """How to erase one record: DELETE it, or overwrite its personal fields (anonymise)."""

    method: Literal["DELETE", "PUT", "PATCH", "POST"]
    path: str
    params: dict[str, Scalar] = Field(default_factory=dict)
    body: dict[str, Any] | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _body_fits_method(self) -> EraseCall:
        if self.method == "DELETE" and self.body is not None:
            raise ValueError("a DELETE erase call takes no body; use PUT/PATCH to anonymise")
        if self.method != "DELETE" and not self.body:
            raise ValueError(f"an anonymising {self.method} needs a body that overwrites the "
                             "personal fields")
        return self

    @property
    def action(self) -> Literal["delete", "anonymise"]:
        return "delete" if self.method == "DELETE" else "anonymise"


class UpdateCall(_Strict):
    """How to correct one record (GDPR Art. 16): a PUT/PATCH/POST whose body carries the new
    values under the processor's field names. ``fields`` maps the hub's words (``name``,
    ``first_name``, ``last_name``, ``email``, ``phone``, ``address.street``,
    ``address.postal_code``, ``address.city``, ``address.country``) to those names; a name is
    split into first and last name where only those are declared."""

    method: Literal["PUT", "PATCH", "POST"] = "PUT"
    path: str
    params: dict[str, Scalar] = Field(default_factory=dict)
    fields: dict[str, str] = Field(min_length=1)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("fields")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        known = {"name", "first_name", "last_name", "email", "phone", "address.street",
                 "address.postal_code", "address.city", "address.country"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"update.fields: unknown field(s) {unknown}; use {sorted(known)}")
        return value


class RestrictCall(_Strict):
    """How to mark one record as restricted (GDPR Art. 18) and how to remove the mark: one
    call whose body is ``mark`` or ``unmark``. The bodies are fixed values declared here (a
    flag or a custom field), so nothing else of the record is sent or changed."""

    method: Literal["PUT", "PATCH", "POST"] = "PUT"
    path: str
    params: dict[str, Scalar] = Field(default_factory=dict)
    mark: dict[str, Any] = Field(min_length=1)
    unmark: dict[str, Any] = Field(min_length=1)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class OptOutCall(_Strict):
    """How to tell the processor that the subject withdrew consent to marketing (GDPR Art. 7(3),
    21(3)): one call on the found record whose ``body`` is a fixed value declared here (e.g.
    BokaMera's ``SubscribedToNewsletter = false``), so nothing else of the record changes."""

    method: Literal["PUT", "PATCH", "POST"] = "PUT"
    path: str
    params: dict[str, Scalar] = Field(default_factory=dict)
    body: dict[str, Any] = Field(min_length=1)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ResourceSpec(_Strict):
    """One record type of the processor (customers, bookings, …)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$",
                      description="Record type in reports, and placeholder source: {name.Id}.")
    path: str = Field(description="Listing path, e.g. /customers or /customers/{customer.Id}/x.")
    parent: str | None = Field(None, description="The resource whose records own these.")
    params: dict[str, Scalar] = Field(default_factory=dict)
    records_path: str = Field("", description="Where the records sit in an answer ('' = all).")
    id_field: str = "Id"
    personal_fields: list[str] = Field(min_length=1, description="'*' = every top-level field.")
    identifiers: IdentifierFields = Field(default_factory=IdentifierFields)
    search: SearchParams = Field(default_factory=SearchParams)
    paginator: PaginatorSpec | None = Field(None, description="Default: the API's paginator.")
    erase: list[EraseCall] = Field(default_factory=list)
    erased_with_parent: bool = Field(
        False, description="The API erases these records together with their parent (e.g. "
        "BokaMera's DeleteCustomer removes all connected information); no call of their own.")
    update: UpdateCall | None = Field(None, description="How to correct one record.")
    restrict: RestrictCall | None = Field(
        None, description="How to mark one record as restricted (Art. 18) and unmark it.")
    opt_out: OptOutCall | None = Field(
        None, description="How to record a withdrawn marketing consent on one record.")

    @model_validator(mode="after")
    def _own_rules(self) -> ResourceSpec:
        where = f"resource {self.name!r}"
        if self.erased_with_parent and (self.parent is None or self.erase):
            raise ValueError(f"{where}: erased_with_parent needs a parent and no erase calls "
                             "of its own")
        texts = [("path", self.path), *self.params.items(),
                 *((f"erase[{i}].path", call.path) for i, call in enumerate(self.erase)),
                 *([("update.path", self.update.path)] if self.update else []),
                 *([("restrict.path", self.restrict.path)] if self.restrict else []),
                 *([("opt_out.path", self.opt_out.path)] if self.opt_out else [])]
        for key, value in texts:
            if isinstance(value, str) and stray_braces(value):
                raise ValueError(f"{where}: {key} has a brace that is not a {{resource.field}} "
                                 f"placeholder: {value!r}")
        fields = self.identifiers.declared()
        for kind in self.search.declared():
            if kind not in fields:
                raise ValueError(f"{where}: search.{kind} is declared but identifiers.{kind} is "
                                 "not; the hub must compare the stored value itself")
        kept = {self.id_field, *self.personal_fields}
        for index, call in enumerate(self.erase):
            for source, field in placeholders_in([call.path, call.params, call.body]):
                if source != self.name:
                    raise ValueError(f"{where}: erase[{index}] uses {{{source}.{field}}}; an "
                                     f"erase call may only use the record's own fields "
                                     f"({{{self.name}.<field>}})")
                if field not in kept and "*" not in self.personal_fields:
                    raise ValueError(f"{where}: erase[{index}] uses {{{source}.{field}}}, but "
                                     f"{field!r} is neither id_field nor a personal field, so "
                                     "the stored record will not have it")
        if self.update is not None:
            for source, field in placeholders_in([self.update.path, self.update.params]):
                if source != self.name or field != self.id_field:
                    raise ValueError(f"{where}: update uses {{{source}.{field}}}; an update "
                                     f"call may only use the record's id ({{{self.name}."
                                     f"{self.id_field}}})")
        if self.restrict is not None:
            for source, field in placeholders_in([self.restrict.path, self.restrict.params,
                                                  self.restrict.mark, self.restrict.unmark]):
                if source != self.name or field != self.id_field:
                    raise ValueError(f"{where}: restrict uses {{{source}.{field}}}; a restrict "
                                     f"call may only use the record's id ({{{self.name}."
                                     f"{self.id_field}}})")
        if self.opt_out is not None:
            for source, field in placeholders_in([self.opt_out.path, self.opt_out.params,
                                                  self.opt_out.body]):
                if source != self.name or field != self.id_field:
                    raise ValueError(f"{where}: opt_out uses {{{source}.{field}}}; an opt_out "
                                     f"call may only use the record's id ({{{self.name}."
                                     f"{self.id_field}}})")
        return self

    def is_root(self) -> bool:
        return self.parent is None

    def erase_requests(self, record: Record, base_params: Mapping[str, Scalar] | None = None
                       ) -> list[ErasureRequest]:
        """The declared erase calls rendered for one stored record (for the erasure job)."""
        context = {self.name: {**record.data, self.id_field: record.id}}
        return [
            ErasureRequest(
                action=call.action, method=call.method,
                path=render_path(call.path, context),
                params={**(base_params or {}), **render_value(dict(call.params), context)},
                json=render_value(call.body, context) if call.body is not None else None,
            )
            for call in self.erase
        ]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, Mapping) else value


class ApiDeclaration(_Strict):
    """The whole ``[<table>.api]`` table."""

    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every call.")
    params: dict[str, Scalar] = Field(default_factory=dict,
                                      description="Query parameters for every call (CompanyId).")
    auth: list[AuthSpec] = Field(min_length=1, description="One or more schemes, applied together.")
    paginator: PaginatorSpec = Field(default_factory=lambda: PaginatorSpec(type="single"))
    error_message_path: str | None = Field(
        None, description="Where an error answer holds the processor's message, e.g. "
        "'ResponseStatus.Message'; quoted in reports.")
    resources: list[ResourceSpec] = Field(min_length=1)

    @field_validator("auth", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """``[<table>.api.auth]`` (one scheme) or ``[[<table>.api.auth]]`` (several)."""
        return _as_list(value)

    @model_validator(mode="after")
    def _links(self) -> ApiDeclaration:
        declared: list[str] = []
        for index, resource in enumerate(self.resources):
            where = f"resources[{index}] ({resource.name})"
            if resource.name in declared:
                raise ValueError(f"{where}: the name {resource.name!r} is declared twice")
            used = {source for source, _ in placeholders_in([resource.path, resource.params])}
            if resource.parent is None:
                if used:
                    raise ValueError(f"{where}: placeholder source(s) {sorted(used)} but no "
                                     "parent; declare parent = \"<resource>\" to list these "
                                     "records per parent record")
                if "email" not in resource.search.declared():
                    raise ValueError(f"{where}: a top-level resource needs search.email (the "
                                     "query parameter that searches it by e-mail address)")
            else:
                if resource.parent not in declared:
                    raise ValueError(f"{where}: parent {resource.parent!r} must be a resource "
                                     f"declared before it; declared so far: {declared or 'none'}")
                unknown = used - {resource.parent}
                if unknown:
                    raise ValueError(f"{where}: placeholder source(s) {sorted(unknown)} are not "
                                     f"its parent {resource.parent!r}")
                if not used:
                    raise ValueError(f"{where}: path or params must use a placeholder of its "
                                     f"parent, e.g. {{{resource.parent}.Id}}, or every record "
                                     "would be listed for every parent")
                if resource.search.declared():
                    raise ValueError(f"{where}: search applies to top-level resources only")
            declared.append(resource.name)
        self._check_auth()
        return self

    def _check_auth(self) -> None:
        """One owner per header, and never a credential written into the file."""
        owners = {name.lower(): "headers" for name in self.headers}
        if "authorization" in owners:
            names = current()
            raise ValueError(f"headers: credentials belong in [[{names.table}.api.auth]], with "
                             f"the secret in {names.env('api_key')}, not in the configuration "
                             "file")
        for scheme in (spec.scheme() for spec in self.auth):
            for header in scheme.header_names():
                if header in owners:
                    raise ValueError(f"auth: {owners[header]!r} and {scheme.name!r} both set the "
                                     f"{header!r} header")
                owners[header] = scheme.name
        if sum(1 for spec in self.auth if spec.type == "oauth2_password") > 1:
            raise ValueError("auth: at most one token flow (oauth2_password)")

    def roots(self) -> list[ResourceSpec]:
        return [r for r in self.resources if r.is_root()]

    def children_of(self, name: str) -> list[ResourceSpec]:
        return [r for r in self.resources if r.parent == name]

    def resource(self, name: str) -> ResourceSpec | None:
        return next((r for r in self.resources if r.name == name), None)

    def erase_requests(self, record: Record) -> list[ErasureRequest]:
        """How to erase a found record, with the API-wide query parameters (``CompanyId``);
        none for a record type that declares no erase call."""
        resource = next((r for r in self.resources if r.name == record.type), None)
        return resource.erase_requests(record, self.params) if resource is not None else []

    def secret_names(self) -> list[str]:
        """The settings the declared auth schemes read (``api_key``, ``password``)."""
        names = [n for spec in self.auth for n in spec.scheme().secret_names()]
        return list(dict.fromkeys(names))

    def error_detail(self, body: Any) -> str | None:
        """The processor's own message in an error answer (for ``raise_for_response``)."""
        if not self.error_message_path:
            return None
        said = dig(body, self.error_message_path)
        return str(said) if said not in (None, "") else None

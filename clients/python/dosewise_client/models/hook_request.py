from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.fhir_authorization import FhirAuthorization
    from ..models.hook_request_context import HookRequestContext
    from ..models.hook_request_prefetch_type_0 import HookRequestPrefetchType0


T = TypeVar("T", bound="HookRequest")


@_attrs_define
class HookRequest:
    """A CDS Hooks 2.0 request (§Calling a CDS Service): ``context`` per hook, ``prefetch`` per the service's templates.

    Attributes:
        context (HookRequestContext):
        hook (str): Free text: control characters (U+0000–U+001F, U+007F–U+009F, newlines included) are refused;
            invisible format characters are removed and the text normalized to NFKC before its length is counted.
        hook_instance (str): Free text: control characters (U+0000–U+001F, U+007F–U+009F, newlines included) are
            refused; invisible format characters are removed and the text normalized to NFKC before its length is counted.
        fhir_authorization (FhirAuthorization | None | Unset):
        fhir_server (None | str | Unset):
        prefetch (HookRequestPrefetchType0 | None | Unset):
    """

    context: HookRequestContext
    hook: str
    hook_instance: str
    fhir_authorization: FhirAuthorization | None | Unset = UNSET
    fhir_server: None | str | Unset = UNSET
    prefetch: HookRequestPrefetchType0 | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.fhir_authorization import FhirAuthorization  # noqa: PLC0415
        from ..models.hook_request_prefetch_type_0 import HookRequestPrefetchType0  # noqa: PLC0415

        context = self.context.to_dict()

        hook = self.hook

        hook_instance = self.hook_instance

        fhir_authorization: dict[str, Any] | None | Unset
        if isinstance(self.fhir_authorization, Unset):
            fhir_authorization = UNSET
        elif isinstance(self.fhir_authorization, FhirAuthorization):
            fhir_authorization = self.fhir_authorization.to_dict()
        else:
            fhir_authorization = self.fhir_authorization

        fhir_server: None | str | Unset
        if isinstance(self.fhir_server, Unset):
            fhir_server = UNSET
        else:
            fhir_server = self.fhir_server

        prefetch: dict[str, Any] | None | Unset
        if isinstance(self.prefetch, Unset):
            prefetch = UNSET
        elif isinstance(self.prefetch, HookRequestPrefetchType0):
            prefetch = self.prefetch.to_dict()
        else:
            prefetch = self.prefetch

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "context": context,
                "hook": hook,
                "hookInstance": hook_instance,
            }
        )
        if fhir_authorization is not UNSET:
            field_dict["fhirAuthorization"] = fhir_authorization
        if fhir_server is not UNSET:
            field_dict["fhirServer"] = fhir_server
        if prefetch is not UNSET:
            field_dict["prefetch"] = prefetch

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.fhir_authorization import FhirAuthorization  # noqa: PLC0415
        from ..models.hook_request_context import HookRequestContext  # noqa: PLC0415
        from ..models.hook_request_prefetch_type_0 import HookRequestPrefetchType0  # noqa: PLC0415

        d = dict(src_dict)
        context = HookRequestContext.from_dict(d.pop("context"))

        hook = d.pop("hook")

        hook_instance = d.pop("hookInstance")

        def _parse_fhir_authorization(data: object) -> FhirAuthorization | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                fhir_authorization_type_0 = FhirAuthorization.from_dict(data)

                return fhir_authorization_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FhirAuthorization | None | Unset, data)

        fhir_authorization = _parse_fhir_authorization(d.pop("fhirAuthorization", UNSET))

        def _parse_fhir_server(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        fhir_server = _parse_fhir_server(d.pop("fhirServer", UNSET))

        def _parse_prefetch(data: object) -> HookRequestPrefetchType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                prefetch_type_0 = HookRequestPrefetchType0.from_dict(data)

                return prefetch_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(HookRequestPrefetchType0 | None | Unset, data)

        prefetch = _parse_prefetch(d.pop("prefetch", UNSET))

        hook_request = cls(
            context=context,
            hook=hook,
            hook_instance=hook_instance,
            fhir_authorization=fhir_authorization,
            fhir_server=fhir_server,
            prefetch=prefetch,
        )

        hook_request.additional_properties = d
        return hook_request

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties

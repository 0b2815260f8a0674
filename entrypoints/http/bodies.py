"""Every ``data:`` body of every route, decoded strictly against its declared type, in this one place.

Litestar converts a body it parsed itself with msgspec's lax rules (``strict=False``): ``0`` passes as
``false`` and ``"1"`` as ``1``. The app installs ``StrictBody`` as its data DTO (``Litestar(dto=...)``), so a
route only declares ``data: SomeStruct`` and gets the body exactly as the OpenAPI document states it, or a
``ValidationException`` naming the bad field (400 ``bad_parameter`` in the error table, entrypoints.http.errors).
Form bodies (the pages' ``application/x-www-form-urlencoded``) go through the same check.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.exceptions import ValidationException
from litestar.typing import FieldDefinition

__all__ = ["StrictBody"]


class StrictBody(AbstractDTO[Any]):
    """A data DTO that decodes the raw body with ``msgspec.json.Decoder(T)``: strict, unknown fields as T says."""

    _types: ClassVar[dict[str, Any]] = {}
    _decoders: ClassVar[dict[str, msgspec.json.Decoder[Any]]] = {}

    @classmethod
    def create_for_field_definition(
        cls,
        field_definition: FieldDefinition,
        handler_id: str,
        backend_cls: Any = None,  # noqa: ARG003 -- Litestar's signature
    ) -> None:
        """Called once per handler at start-up: build that handler's decoder for its ``data`` annotation."""
        if field_definition.name == "data":
            cls._types[handler_id] = field_definition.annotation
            cls._decoders[handler_id] = msgspec.json.Decoder(field_definition.annotation)

    @classmethod
    def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any) -> Any:  # noqa: ARG003 -- Litestar's signature
        """The body's schema as Litestar writes it for the plain annotation: the DTO changes no shape."""
        return schema_creator.for_field_definition(field_definition)

    @classmethod
    def is_supported_model_type_field(cls, field_definition: FieldDefinition) -> bool:  # noqa: ARG003 -- Litestar's signature
        return False  # never a return DTO: answers are encoded as before

    def decode_bytes(self, value: bytes) -> Any:
        try:
            return self._decoders[self._handler_id].decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:
            raise _refused(e) from None

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        try:
            return msgspec.convert(value, self._types[self._handler_id], strict=True)
        except msgspec.ValidationError as e:
            raise _refused(e) from None

    @property
    def _handler_id(self) -> str:
        return str(self.asgi_connection.route_handler.handler_id)

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:  # noqa: ARG003 -- Litestar's signature
        yield from ()  # no transfer model: the body is decoded straight into the declared type

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:  # noqa: ARG003 -- Litestar's signature
        return False


def _refused(error: Exception) -> ValidationException:
    """msgspec's ``Expected `bool`, got `int` - at `$.analytics``` as Litestar's own body error: key and message."""
    message, _, where = str(error).partition(" - at ")
    key = where.strip("`").removeprefix("$").removeprefix(".") or "body"
    return ValidationException(detail="the request body is not valid", extra=[{"key": key, "message": message}])

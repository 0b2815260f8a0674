"""The Analytics API (Litestar): metrics, dashboards, real time and audit, under /api.

Every request passes the same gate, in this order: a valid bearer token
(401), the policy table of application.api_access.policy (403), the per-user quota
counted in the database (429). Every answer, errors included, is the seed's
envelope (``status``, ``data`` or ``error``, ``metadata``), and every request
that reaches a route is written to the tamper-evident access log before its
answer leaves.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final, Literal, cast
from uuid import UUID

import anyio.to_thread
import msgspec
import structlog
from eventsourcing.persistence import PersistenceError
from litestar import MediaType, Request, Response, Router, WebSocket, delete, get, put, websocket
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
    WebSocketDisconnect,
)
from litestar.handlers import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import (
    HTTP_304_NOT_MODIFIED,
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.api_access.tokens import InvalidToken
from application.api_access.access_log import AccessLogWriter
from application.api_access.policy import POLICY, decide
from application.api_access.ports import AccessEntry, QuotaDecision
from application.batching import Batcher
from application.errors import BadQuery, NotFound, StorageError
from application.principals import Principal
from application.privacy.erasure import UnknownUser
from application.reporting.queries import Answer, AnswerCache
from domain.consent import ConsentChoice
from entrypoints.bootstrap import API_WINDOW_SECONDS, Container

__all__ = ["VerifiedTokens", "api_router", "principal_key"]

log = structlog.get_logger(__name__)

_ENCODER: Final = msgspec.json.Encoder()
_MAX_PAGE: Final = 1000
_READ_THREADS: Final = 8
_PATH_TYPE: Final = re.compile(r"\{(\w+):\w+\}")  # {stream_id:str} -> {stream_id}, as OpenAPI spells it


From = Annotated[str | None, QueryParameter(name="from", description="first day, e.g. 2026-11-01")]
To = Annotated[str | None, QueryParameter(description="last day, e.g. 2026-11-24")]


class ConsentUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A new consent choice: every purpose, true or false."""

    analytics: bool
    personalization: bool
    marketing: bool
    location: bool


class Metadata(msgspec.Struct, frozen=True):
    calculated_at: str
    data_points: int | None
    confidence: Literal["final", "closed", "provisional"] | None
    formula_version: str | None


class Envelope(msgspec.Struct, frozen=True):
    """Every successful answer: ``data`` holds ``metric``, ``value``, ``date``, ``breakdown`` where they apply."""

    status: Literal["success"]
    data: dict[str, Any]
    metadata: Metadata


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str


class ErrorEnvelope(msgspec.Struct, frozen=True):
    status: Literal["error"]
    error: ErrorDetail
    metadata: dict[str, str]


ERRORS: Final = {
    status: ResponseSpec(data_container=ErrorEnvelope, description=description)
    for status, description in (
        (400, "a parameter or the body is malformed or out of bounds"),
        (401, "no valid bearer token"),
        (403, "the token's role may not call this, or not about this user"),
        (404, "nothing is held for what was asked"),
        (429, "over the hourly quota; see Retry-After"),
        (503, "the database is unreachable; see Retry-After"),
    )
}


class ApiError(HTTPException):
    """An error answered in the envelope: ``code`` is stable, the message says what to do."""

    def __init__(self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


def principal_key(secret: bytes, principal: Principal) -> str:
    """A keyed hash of who is calling: stable per person, meaningless without the service's key."""
    return hmac.new(secret, f"{principal.role}:{principal.subject}".encode(), hashlib.sha256).hexdigest()[:32]


def _metadata(answer: Answer | None = None) -> dict[str, Any]:
    if answer is None:
        return {"calculated_at": datetime.now(UTC).isoformat()}  # errors
    return {
        "calculated_at": answer.calculated_at.isoformat(),
        "data_points": answer.data_points,
        "confidence": answer.confidence,
        "formula_version": answer.formula_version,
    }


def _cache_control(answer: Answer) -> str:
    if answer.confidence == "final":
        return "private, max-age=86400"
    if answer.confidence == "closed":
        return "private, max-age=300"
    return "no-store"


def _answer(request: Request[Any, Any, Any], answer: Answer) -> Response[Envelope]:
    """The envelope; closed periods get an ETag and may be cached, live figures may not."""
    body = _ENCODER.encode({"status": "success", "data": answer.data, "metadata": _metadata(answer)})
    headers = {"Cache-Control": _cache_control(answer)}
    if answer.cacheable:
        # The ETag covers the figures, not the moment they were read.
        tag = '"' + hashlib.sha256(_ENCODER.encode([answer.data, answer.confidence])).hexdigest()[:32] + '"'
        headers["ETag"] = tag
        if tag in request.headers.get("if-none-match", ""):
            return cast(Response[Envelope], Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers))
    return _json(body, headers=headers)


def _data(value: dict[str, Any], *, data_points: int) -> Response[Envelope]:
    """A live answer (real time, audit, the person's own records): provisional, never cached."""
    metadata = {
        "calculated_at": datetime.now(UTC).isoformat(),
        "data_points": data_points,
        "confidence": "provisional",
        "formula_version": None,
    }
    body = {"status": "success", "data": value, "metadata": metadata}
    return _json(_ENCODER.encode(body), headers={"Cache-Control": "no-store"})


def _json(body: bytes, *, headers: dict[str, str], status: int = 200) -> Response[Envelope]:
    # Encoded here once with msgspec; the annotation tells OpenAPI the shape of what is sent.
    return cast(Response[Envelope], Response(body, status_code=status, media_type=MediaType.JSON, headers=headers))


def _day(name: str, value: str | None, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", f"{name}: expected a date like 2026-11-24") from None


def _uuid(name: str, value: str | None) -> UUID:
    if value is None:
        raise ApiError(HTTP_400_BAD_REQUEST, "missing_parameter", f"{name} is required (a UUID)")
    try:
        return UUID(value)
    except ValueError:
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", f"{name}: expected a UUID") from None


def _limit(value: int) -> int:
    if not 1 <= value <= _MAX_PAGE:
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", f"limit: must be 1 to {_MAX_PAGE}")
    return value


_KEEP_TOKENS_SECONDS: Final = 60.0
_KEPT_TOKENS: Final = 10_000


class _Expiry(msgspec.Struct):
    exp: float


_EXPIRY: Final = msgspec.json.Decoder(_Expiry)


class VerifiedTokens:
    """Tokens verified recently, by their exact text: a repeat caller's token is not checked again for
    ``keep_for`` seconds, and never past its own ``exp`` (without the verifier's leeway), so nothing is let in
    that ``verify`` would refuse. Only verified tokens are kept; at most ``max_tokens`` of them."""

    def __init__(
        self,
        verify: Callable[[str], Principal],
        *,
        keep_for: float = _KEEP_TOKENS_SECONDS,
        max_tokens: int = _KEPT_TOKENS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verify = verify
        self._keep_for = keep_for
        self._max = max_tokens
        self._clock = clock
        self._kept: dict[str, tuple[float, Principal]] = {}

    def verify(self, token: str) -> Principal:
        now = self._clock()
        kept = self._kept.get(token)
        if kept is not None:
            if now < kept[0]:
                return kept[1]
            del self._kept[token]
        principal = self._verify(token)  # raises InvalidToken
        until = min(now + self._keep_for, _expiry(token))
        if until > now:
            if len(self._kept) >= self._max:
                self._kept.clear()
            self._kept[token] = (until, principal)
        return principal


def _expiry(token: str) -> float:
    """The ``exp`` of a token ``verify`` accepted (so it is well formed); 0 if it cannot be read."""
    try:
        payload = token.split(".")[1]
        return _EXPIRY.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).exp
    except (IndexError, ValueError, binascii.Error, msgspec.DecodeError):
        return 0.0


class Gate:
    """Authentication, the policy and the quota, for every route; remembers who called for the access log."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._tokens = VerifiedTokens(container.tokens.verify)
        # The quota hits of concurrent requests are counted in one transaction (application.batching).
        self._quota: Batcher[tuple[str, datetime], QuotaDecision] = Batcher(
            container.api_rate.hit_many, name="api-quota"
        )
        # From the key store's root secret, which stays the same when the master key is rotated.
        self._secret = container.keys.derived_secret(b"addvalue api principal")
        self._window = API_WINDOW_SECONDS

    def __deepcopy__(self, memo: dict[int, Any]) -> Gate:
        return self  # Litestar copies a router's guards when it is registered; the container is shared

    def authenticate(self, headers: Any, query: Any = None) -> Principal:
        header = headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            token = (query or {}).get("access_token", "")  # browsers cannot set headers on a WebSocket
            if not token:
                raise ApiError(HTTP_401_UNAUTHORIZED, "unauthenticated", "send 'Authorization: Bearer <token>'")
        try:
            return self._tokens.verify(token.strip())
        except InvalidToken as e:
            raise ApiError(HTTP_401_UNAUTHORIZED, "unauthenticated", str(e)) from None

    async def guard(self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        """Litestar guard, run before parameters and body are read: token (401), user_id (400), policy (403),
        quota (429). The WebSocket route checks its own token, to close with a code instead."""
        if connection.scope["type"] == ScopeType.WEBSOCKET:
            return
        route = handler.handler_name
        principal = self.authenticate(connection.headers)
        key = principal_key(self._secret, principal)
        connection.scope["state"]["audit"] = (key, principal.role)
        asked = connection.path_params.get("user_id") or connection.query_params.get("user_id")
        about = _uuid("user_id", asked) if asked is not None or POLICY[route].own_only else None
        decision = decide(route, principal, about)
        if not decision.allowed:
            raise ApiError(HTTP_403_FORBIDDEN, "forbidden", decision.reason)
        now = datetime.now(UTC)
        quota = await asyncio.wrap_future(self._quota.submit((key, now)))
        # Reset: when the current hour-long window ends (the sliding count has shed most of it by then).
        window_end = self._window - int(now.timestamp()) % self._window
        headers = {
            "RateLimit-Limit": str(quota.limit),
            "RateLimit-Remaining": str(quota.remaining),
            "RateLimit-Reset": str(quota.retry_after if not quota.allowed and quota.retry_after else window_end),
        }
        connection.scope["state"]["rate_headers"] = headers
        if not quota.allowed:
            retry = str(quota.retry_after or quota.reset_seconds)
            raise ApiError(
                HTTP_429_TOO_MANY_REQUESTS,
                "rate_limited",
                f"at most {quota.limit} requests per hour; retry in {retry} s",
                headers={**headers, "Retry-After": retry},
            )
        connection.scope["state"]["admitted"] = (principal, about)

    @staticmethod
    def admitted(request: Request[Any, Any, Any]) -> tuple[Principal, UUID | None]:
        """Who the guard let in, and the user id they asked about."""
        admitted: tuple[Principal, UUID | None] = request.scope["state"]["admitted"]
        return admitted


class AccessLogMiddleware(ASGIMiddleware):
    """Writes each request's access record before its answer is sent; adds the quota headers.

    Records of concurrent requests are committed together (application.api_access.access_log.AccessLogWriter):
    each request waits for the transaction that holds its record, without a thread of its own.
    """

    def __init__(self, container: Container) -> None:
        self._container = container
        self._writer = AccessLogWriter(container.access_log)

    def __deepcopy__(self, memo: dict[int, Any]) -> AccessLogMiddleware:
        return self  # Litestar copies a router when it is registered; the container is shared, not copied

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != ScopeType.HTTP:
            await next_app(scope, receive, send)
            return

        async def send_after_logging(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                state = scope.get("state", {})
                await self._append(scope, state, status)
                extra = [(k.lower().encode(), v.encode()) for k, v in state.get("rate_headers", {}).items()]
                known = {name for name, _ in message.get("headers", [])}
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *(h for h in extra if h[0] not in known)],
                }
            await send(message)

        await next_app(scope, receive, send_after_logging)

    async def _append(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        principal, role = state.get("audit", ("anonymous", "-"))
        handler = scope.get("route_handler")
        # The route's template (/api/audit/streams/{stream_id:str}), never the path asked for.
        template = _PATH_TYPE.sub(r"{\1}", "/api" + min(getattr(handler, "paths", None) or {"/unknown"}))
        outcome: Literal["allowed", "denied", "error", "rate_limited"]
        if status == HTTP_429_TOO_MANY_REQUESTS:
            outcome = "rate_limited"
        elif status in (HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN):
            outcome = "denied"
        elif status >= HTTP_500_INTERNAL_SERVER_ERROR:
            outcome = "error"
        else:
            outcome = "allowed"
        entry = AccessEntry(
            at=datetime.now(UTC),
            principal=principal,
            role=role,
            method=str(scope.get("method", "GET")),
            route=template,
            status=status,
            outcome=outcome,
        )
        try:
            await asyncio.wrap_future(self._writer.submit(entry))
        except StorageError as e:  # the database is away: the answer still goes; a gap in the log is loud
            log.error("audit.append_failed", route=template, status=status, error=str(e))
        except Exception:  # anything else: the same, with where it came from
            log.exception("audit.append_failed", route=template, status=status)


class LiveFeed:
    """One poller of the real-time counters for all WebSocket clients; each gets a change within 0.5 s."""

    def __init__(self, container: Container, *, every: float = 0.5) -> None:
        self._container = container
        self._every = every
        self._latest: bytes | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._listeners = 0

    async def subscribe(self) -> bytes:
        """The current snapshot; starts the poller with the first client."""
        self._listeners += 1
        if self._task is None or self._task.done():
            self._latest = await self._read()
            self._task = asyncio.create_task(self._poll())
        assert self._latest is not None
        return self._latest

    def unsubscribe(self) -> None:
        self._listeners -= 1
        if self._listeners == 0 and self._task is not None:
            self._task.cancel()
            self._task = None

    async def next_change(self, seen: bytes) -> bytes:
        async with self._changed:
            await self._changed.wait_for(lambda: self._latest is not None and self._latest != seen)
            assert self._latest is not None
            return self._latest

    async def _read(self) -> bytes:
        snapshot = await anyio.to_thread.run_sync(lambda: self._container.analytics.realtime(wait_for_fresh=True))
        return _ENCODER.encode({"status": "success", "data": msgspec.to_builtins(snapshot), "metadata": _metadata()})

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                fresh = await self._read()
            except Exception:  # the database may be away for a while; clients keep the last snapshot
                log.warning("realtime.read_failed", exc_info=True)
                continue
            if _without_time(fresh) != _without_time(self._latest):
                async with self._changed:
                    self._latest = fresh
                    self._changed.notify_all()


def _without_time(snapshot: bytes | None) -> Any:
    if snapshot is None:
        return None
    decoded = msgspec.json.decode(snapshot)
    decoded["data"].pop("as_of", None)
    decoded.pop("metadata", None)
    return decoded


def api_router(container: Container) -> Router:  # noqa: PLR0915 - one place lists every route
    gate = Gate(container)
    analytics = container.analytics
    feed = LiveFeed(container)

    closed_answers = AnswerCache()
    # Metric reads in at most this many threads at once: the pools have a few connections each, and more
    # threads would only wait for them (and for the GIL).
    readers = anyio.CapacityLimiter(_READ_THREADS)
    computing: dict[tuple[Any, ...], asyncio.Future[Answer]] = {}

    async def run(call: Callable[..., Answer], *args: Any) -> Answer:
        return await anyio.to_thread.run_sync(call, *args, limiter=readers)

    async def aggregate(call: Callable[..., Answer], *args: Any) -> Answer:
        """An aggregate answer; one about a closed period is kept a while (application.reporting.queries.AnswerCache),
        and served from memory, without a thread."""
        if None in args:  # "the latest computed": what that is changes, so the answer is not kept
            return await run(call, *args)
        key = (call.__name__, *args)
        kept = closed_answers.get(key)
        if kept is not None:
            return kept
        pending = computing.get(key)
        if pending is not None:  # the same answer is being computed: wait for it rather than compute it again
            with contextlib.suppress(asyncio.CancelledError):
                return await asyncio.shield(pending)
            if not pending.cancelled():
                raise asyncio.CancelledError  # this request was cancelled, not the computation
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        computing[key] = future
        try:
            answer = await run(call, *args)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: the waiters, if any, raise it too
            raise
        finally:
            if computing.get(key) is future:
                del computing[key]
        future.set_result(answer)
        closed_answers.put(key, answer)
        return answer

    def yesterday() -> date:
        return analytics.today() - timedelta(days=1)

    # --- per person ---------------------------------------------------------------------------------
    # These three read one person's rows by index: about half a millisecond, most of it waiting for the
    # database. They run on the event loop's own thread, as the quota and access-log waits do not: a hop to a
    # worker thread and back cost more than the read itself (bench/api.py at 500/s: 12-18% less server CPU per
    # answer, p99 11.7-14.5 ms instead of 14.2-22.1). The price: while a read waits, this process answers no one
    # else, for at most the pool's 2 s wait for a connection. Aggregates, which may take longer, keep to threads.

    @get("/metrics/flourish-index", name="flourish_index", responses=ERRORS)
    async def flourish_index(
        request: Request[Any, Any, Any], user_id: FromQuery[str | None] = None, date: FromQuery[str | None] = None
    ) -> Response[Envelope]:
        """One person's Flourish Index (0-100) for a day, with its breakdown. Default day: yesterday."""
        _, who = gate.admitted(request)
        assert who is not None
        return _answer(request, analytics.flourish_index(who, _day("date", date, yesterday())))

    @get("/metrics/add-value-index", name="add_value_index", responses=ERRORS)
    async def add_value_index(
        request: Request[Any, Any, Any], user_id: FromQuery[str | None] = None, date: FromQuery[str | None] = None
    ) -> Response[Envelope]:
        """One person's Add-Value Index (0-100) for a day, with its breakdown. Default day: yesterday."""
        _, who = gate.admitted(request)
        assert who is not None
        return _answer(request, analytics.add_value_index(who, _day("date", date, yesterday())))

    @get("/metrics/user-activity", name="user_activity", responses=ERRORS)
    async def user_activity(
        request: Request[Any, Any, Any],
        user_id: FromQuery[str | None] = None,
        from_: From = None,
        to: To = None,
    ) -> Response[Envelope]:
        """One person's activity per day in [from, to] (default: the last 30 days) and current streak."""
        _, who = gate.admitted(request)
        assert who is not None
        last = _day("to", to, analytics.today())
        first = _day("from", from_, last - timedelta(days=29))
        return _answer(request, analytics.user_activity(who, first, last))

    # --- the person's own data: consent, export, erasure (GDPR Art. 7, 15, 17, 20) -----------------

    @get("/users/{user_id:str}/consent", name="user_consent", responses=ERRORS)
    async def user_consent(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[Envelope]:
        """The person's current consent per purpose."""
        _, who = gate.admitted(request)
        assert who is not None
        state = await anyio.to_thread.run_sync(container.consent.current, who)
        return _data({"metric": "consent", **msgspec.to_builtins(state)}, data_points=1)

    @put("/users/{user_id:str}/consent", name="user_consent_change", status_code=200, responses=ERRORS)
    async def user_consent_change(
        request: Request[Any, Any, Any], user_id: FromPath[str], data: JSONBody[ConsentUpdate]
    ) -> Response[Envelope]:
        """Set the person's consent: every purpose given (analytics, personalization, marketing, location)."""
        principal, who = gate.admitted(request)
        assert who is not None
        changed_by = "user" if principal.role == "user" else principal.role
        choice = ConsentChoice(**msgspec.structs.asdict(data))
        state = await anyio.to_thread.run_sync(lambda: container.consent.change(who, choice, changed_by=changed_by))
        return _data({"metric": "consent", **msgspec.to_builtins(state)}, data_points=1)

    @get("/users/{user_id:str}/consent/history", name="user_consent_history", responses=ERRORS)
    async def user_consent_history(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[Envelope]:
        """Every consent change: the choice, when it took effect, from which source, by whom."""
        _, who = gate.admitted(request)
        assert who is not None
        changes = await anyio.to_thread.run_sync(container.consent.history, who)
        return _data({"metric": "consent_history", "changes": changes}, data_points=len(changes))

    @get("/users/{user_id:str}/export", name="user_export", responses=ERRORS)
    async def user_export(
        request: Request[Any, Any, Any], user_id: FromPath[str], format: FromQuery[str] = "json"
    ) -> Response[Envelope]:
        """Everything held about the person: JSON, or (format=zip) JSON plus one CSV per event type."""
        _, who = gate.admitted(request)
        assert who is not None
        if format not in ("json", "zip"):
            raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", "format: json or zip")
        bundle = await anyio.to_thread.run_sync(container.export.bundle, who)
        if format == "zip":
            return cast(
                Response[Envelope],
                Response(
                    container.export.to_zip(bundle),
                    media_type="application/zip",
                    headers={
                        "Content-Disposition": 'attachment; filename="addvalue-export.zip"',
                        "Cache-Control": "no-store",
                    },
                ),
            )
        return _data(bundle, data_points=len(bundle["events"]))

    @delete("/users/{user_id:str}", name="user_erase", status_code=200, responses=ERRORS)
    async def user_erase(
        request: Request[Any, Any, Any], user_id: FromPath[str], now: FromQuery[bool] = False
    ) -> Response[Envelope]:
        """Erase the person: out of every use at once; their key destroyed after the grace period
        (admins may pass now=true to destroy it at once). Answers with a receipt."""
        principal, who = gate.admitted(request)
        assert who is not None
        if now and principal.role != "admin":
            raise ApiError(HTTP_403_FORBIDDEN, "forbidden", "only an admin may skip the grace period")
        try:
            receipt = await anyio.to_thread.run_sync(
                lambda: container.erasure.request(who, requested_by=principal.role, grace=timedelta(0) if now else None)
            )
        except UnknownUser:
            raise ApiError(HTTP_404_NOT_FOUND, "not_found", "no data is held for this user") from None
        return _data({"metric": "erasure_receipt", **msgspec.to_builtins(receipt)}, data_points=1)

    # --- platform -----------------------------------------------------------------------------------

    @get("/metrics/platform-summary", name="platform_summary", responses=ERRORS)
    async def platform_summary(
        request: Request[Any, Any, Any], date: FromQuery[str | None] = None
    ) -> Response[Envelope]:
        """A closed day's platform totals (default: yesterday): DAU, WAU, MAU, new people, activity."""
        return _answer(request, await aggregate(analytics.platform_summary, _day("date", date, yesterday())))

    def _range(from_: str | None, to: str | None) -> tuple[date, date]:
        last = _day("to", to, yesterday())
        return _day("from", from_, last - timedelta(days=29)), last

    @get("/dashboard/flourish", name="dashboard_flourish", responses=ERRORS)
    async def dashboard_flourish(
        request: Request[Any, Any, Any], from_: From = None, to: To = None
    ) -> Response[Envelope]:
        """Per day in [from, to]: people with a Flourish Index, its mean and quartiles."""
        return _answer(request, await aggregate(analytics.index_dashboard, "flourish", *_range(from_, to)))

    @get("/dashboard/add-value", name="dashboard_add_value", responses=ERRORS)
    async def dashboard_add_value(
        request: Request[Any, Any, Any], from_: From = None, to: To = None
    ) -> Response[Envelope]:
        """Per day in [from, to]: people with an Add-Value Index, its mean and quartiles."""
        return _answer(request, await aggregate(analytics.index_dashboard, "add_value", *_range(from_, to)))

    @get("/dashboard/wave-participation", name="dashboard_wave_participation", responses=ERRORS)
    async def dashboard_wave_participation(
        request: Request[Any, Any, Any], from_: From = None, to: To = None
    ) -> Response[Envelope]:
        """Per closed day in [from, to]: Waves joined, interactions, micro-acts shared in Waves, feedback."""
        return _answer(request, await aggregate(analytics.wave_participation, *_range(from_, to)))

    @get("/dashboard/active-users", name="dashboard_active_people", responses=ERRORS)
    async def dashboard_active_people(
        request: Request[Any, Any, Any], from_: From = None, to: To = None
    ) -> Response[Envelope]:
        """Per closed day in [from, to]: DAU, WAU, MAU and new people."""
        return _answer(request, await aggregate(analytics.active_people_series, *_range(from_, to)))

    @get("/dashboard/executive-summary", name="dashboard_executive_summary", responses=ERRORS)
    async def dashboard_executive_summary(
        request: Request[Any, Any, Any], month: FromQuery[str | None] = None
    ) -> Response[Envelope]:
        """A month's headline figures (default: the latest month computed)."""
        return _answer(request, await aggregate(analytics.executive_summary, month))

    @get("/dashboard/retention", name="dashboard_retention", responses=ERRORS)
    async def dashboard_retention(
        request: Request[Any, Any, Any], week: FromQuery[str | None] = None
    ) -> Response[Envelope]:
        """Retention cohorts (signup week x weeks since) as of an ISO week (default: last week)."""
        chosen = week or (analytics.today() - timedelta(days=7)).isoformat()
        return _answer(request, await aggregate(analytics.retention_cohorts, chosen))

    @get("/dashboard/segments", name="dashboard_segments", responses=ERRORS)
    async def dashboard_segments(
        request: Request[Any, Any, Any], date: FromQuery[str | None] = None
    ) -> Response[Envelope]:
        """People per segment (new, active, returning, at_risk, dormant) on a closed day (default: yesterday)."""
        return _answer(request, await aggregate(analytics.segments, _day("date", date, yesterday())))

    @get("/dashboard/weekly", name="dashboard_weekly", responses=ERRORS)
    async def dashboard_weekly(
        request: Request[Any, Any, Any], week: FromQuery[str | None] = None
    ) -> Response[Envelope]:
        """A week's summary: WAU, Wave participation, DAU trend and 14-day forecast (default: last week)."""
        chosen = week or (analytics.today() - timedelta(days=7)).isoformat()
        return _answer(request, await aggregate(analytics.weekly_summary, chosen))

    @get("/dashboard/monthly", name="dashboard_monthly", responses=ERRORS)
    async def dashboard_monthly(
        request: Request[Any, Any, Any], month: FromQuery[str | None] = None
    ) -> Response[Envelope]:
        """A month's MAU, churn and growth (default: last month)."""
        chosen = month or (analytics.today().replace(day=1) - timedelta(days=1)).isoformat()
        return _answer(request, await aggregate(analytics.monthly_summary, chosen))

    # --- real time ----------------------------------------------------------------------------------

    async def _live(pick: Callable[[Any], dict[str, Any]]) -> Response[Envelope]:
        snapshot = analytics.fresh_realtime()
        if snapshot is None:
            snapshot = await anyio.to_thread.run_sync(analytics.realtime)
        return _data({"as_of": snapshot.as_of.isoformat(), **pick(snapshot)}, data_points=1)

    @get("/realtime/dau", name="realtime_dau", responses=ERRORS)
    async def realtime_dau(request: Request[Any, Any, Any]) -> Response[Envelope]:
        """People active so far today (UTC)."""
        return await _live(lambda s: {"metric": "dau", "value": s.daily_active_users})

    @get("/realtime/active-sessions", name="realtime_active_sessions", responses=ERRORS)
    async def realtime_active_sessions(request: Request[Any, Any, Any]) -> Response[Envelope]:
        """People active in the last 5 minutes, Activation Days in progress, micro-acts today."""
        return await _live(
            lambda s: {
                "metric": "active_sessions",
                "value": s.online_now,
                "breakdown": {
                    "activations_in_progress": s.activations_in_progress,
                    "microacts_today": s.microacts_today,
                },
            },
        )

    @get("/realtime/live-waves", name="realtime_live_waves", responses=ERRORS)
    async def realtime_live_waves(request: Request[Any, Any, Any]) -> Response[Envelope]:
        """Participants of each live Wave (joined and not left)."""
        return await _live(
            lambda s: {
                "metric": "live_waves",
                "value": sum(s.wave_participants.values()),
                "breakdown": dict(s.wave_participants),
            },
        )

    @websocket("/realtime/metrics", name="realtime_metrics")
    async def realtime_metrics(socket: WebSocket[Any, Any, Any]) -> None:
        """A snapshot of every real-time counter on connect, then each change within a second."""
        try:
            principal = gate.authenticate(socket.headers, socket.query_params)
        except ApiError as e:
            await socket.close(code=4401, reason=str(e.detail)[:120])
            return
        decision = decide("realtime_metrics", principal)
        if not decision.allowed:
            await socket.close(code=4403, reason=decision.reason[:120])
            return
        await socket.accept()
        seen = await feed.subscribe()

        async def push(seen: bytes) -> None:
            await socket.send_bytes(seen)
            while True:
                seen = await feed.next_change(seen)
                await socket.send_bytes(seen)

        pushing = asyncio.create_task(push(seen))
        try:
            while not pushing.done():  # the client says nothing; reading is how its leaving is noticed
                await socket.receive_data("text")
        except (WebSocketDisconnect, OSError):
            pass
        finally:
            pushing.cancel()
            feed.unsubscribe()

    # --- audit --------------------------------------------------------------------------------------

    @get("/audit/access-log", name="audit_access_log", responses=ERRORS)
    async def audit_access_log(after: FromQuery[int] = 0, limit: FromQuery[int] = 100) -> Response[Envelope]:
        """Access records after sequence number ``after``, oldest first (at most ``limit``)."""
        records = await anyio.to_thread.run_sync(container.access_log.page, max(after, 0), _limit(limit))
        return _data({"records": msgspec.to_builtins(records)}, data_points=len(records))

    @get("/audit/users/{user_id:str}/history", name="audit_user_history", responses=ERRORS)
    async def audit_user_history(
        request: Request[Any, Any, Any], user_id: FromPath[str], after: FromQuery[int] = 0, limit: FromQuery[int] = 100
    ) -> Response[Envelope]:
        """One person's event history, decrypted (redacted after erasure), from log position ``after``."""
        _, who = gate.admitted(request)
        assert who is not None
        subject = await anyio.to_thread.run_sync(lambda: container.subjects.subject_for(who))
        if subject is None:
            raise ApiError(
                HTTP_404_NOT_FOUND,
                "not_found",
                "no data is held for this user (never seen, or erased: replay an erased person by the "
                "subject id of their erasure receipt, GET /api/audit/streams/{subject_id})",
            )
        entries = await anyio.to_thread.run_sync(
            lambda: container.history.page_of_subject(subject, after=max(after, 0), limit=_limit(limit))
        )
        return _data({"subject_id": str(subject), "events": msgspec.to_builtins(entries)}, data_points=len(entries))

    @get("/audit/streams/{stream_id:str}", name="audit_stream", responses=ERRORS)
    async def audit_stream(stream_id: FromPath[str]) -> Response[Envelope]:
        """Any aggregate's history with versions (decrypted, or redacted when its key is gone)."""
        stream = _uuid("stream_id", stream_id)
        entries = await anyio.to_thread.run_sync(container.history.of_stream, stream)
        if not entries:
            raise ApiError(HTTP_404_NOT_FOUND, "not_found", "no stream has this id")
        return _data({"stream_id": str(stream), "events": msgspec.to_builtins(entries)}, data_points=len(entries))

    return Router(
        "/api",
        route_handlers=[
            flourish_index,
            add_value_index,
            user_activity,
            user_consent,
            user_consent_change,
            user_consent_history,
            user_export,
            user_erase,
            platform_summary,
            dashboard_flourish,
            dashboard_add_value,
            dashboard_wave_participation,
            dashboard_active_people,
            dashboard_executive_summary,
            dashboard_retention,
            dashboard_segments,
            dashboard_weekly,
            dashboard_monthly,
            realtime_dau,
            realtime_active_sessions,
            realtime_live_waves,
            realtime_metrics,
            audit_access_log,
            audit_user_history,
            audit_stream,
        ],
        middleware=[AccessLogMiddleware(container)],
        guards=[gate.guard],
        security=[{"BearerToken": []}],
        exception_handlers={
            ApiError: _api_error,
            BadQuery: lambda r, e: _envelope_error(r, HTTP_400_BAD_REQUEST, "bad_parameter", str(e)),
            NotFound: lambda r, e: _envelope_error(r, HTTP_404_NOT_FOUND, "not_found", str(e)),
            NotAuthorizedException: lambda r, e: _envelope_error(r, HTTP_401_UNAUTHORIZED, "unauthenticated", e.detail),
            PermissionDeniedException: lambda r, e: _envelope_error(r, HTTP_403_FORBIDDEN, "forbidden", e.detail),
            ValidationException: _invalid,
            HTTPException: lambda r, e: _envelope_error(r, e.status_code, "bad_request", e.detail),
            StorageError: _unavailable,
            Exception: _unexpected,
        },
        tags=["analytics"],
    )


def _envelope_error(
    _: Request[Any, Any, Any], status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response[Envelope]:
    body = {"status": "error", "error": {"code": code, "message": message}, "metadata": _metadata()}
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    if status == HTTP_401_UNAUTHORIZED:
        all_headers["WWW-Authenticate"] = 'Bearer realm="addvalue"'
    return _json(_ENCODER.encode(body), headers=all_headers, status=status)


def _invalid(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Envelope]:
    """Litestar's parameter and body checks, with what each broken field needs."""
    problems = [
        f"{item.get('key') or 'body'}: {item.get('message')}" for item in (exc.extra or []) if isinstance(item, dict)
    ]
    message = "; ".join(problems) or exc.detail
    return _envelope_error(request, HTTP_400_BAD_REQUEST, "bad_parameter", message)


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Envelope]:
    return _envelope_error(request, exc.status_code, exc.code, exc.detail, dict(exc.headers or {}))


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Envelope]:
    log.error("storage.unavailable", error=str(exc))
    return _envelope_error(
        request,
        HTTP_503_SERVICE_UNAVAILABLE,
        "unavailable",
        "the database is unreachable; retry later",
        {"Retry-After": "1"},
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Envelope]:
    if isinstance(exc, PersistenceError):
        return _unavailable(request, exc)
    log.exception("api.failed", route=request.scope.get("route_handler", None) and request.route_handler.name)
    return _envelope_error(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal", "the request failed on our side")

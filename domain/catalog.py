"""The collection contract with the app: the 25 events of ``shared/event-catalog.md``.

Each event is a frozen msgspec Struct tagged by ``event_name``; decoding a JSON
object against :data:`CatalogEvent` checks types, ranges, enums and unknown
keys in one pass (see :mod:`domain.validation` for the rules msgspec cannot
express and for the human-readable error messages).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Final, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "CATALOG_EVENT_TYPES",
    "CATEGORY_OF",
    "CatalogEvent",
    "Context",
    "Privacy",
]

# A non-empty string of at most 64 characters ("id" in the catalog).
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=86400)]
FieldNames = Annotated[list[Id], msgspec.Meta(min_length=1, max_length=20)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
# BCP 47, simplified: a 2-3 letter (or 4-8 letter registered) language subtag
# followed by script, region and variant subtags of 1-8 alphanumerics.
# \Z, not $: "$" would also match before a trailing newline.
LocaleTag = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*\Z", max_length=35)]
Category = Literal["user", "activation", "microact", "community", "wave"]


class _Props(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every properties object: unknown keys are rejected.

    An optional key may be absent; when present it must have its type
    (``null`` is not a string), so optional fields default to UNSET, not None.
    """


class Context(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    device_type: Literal["mobile", "tablet", "desktop"]
    platform: Literal["ios", "android", "web"]
    app_version: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    locale: LocaleTag
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Privacy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    consent_given: bool
    ip_anonymized: bool


class _Event(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="event_name",
):
    """The envelope shared by every catalog event."""

    event_id: UUID
    event_category: Category
    user_id: UUID
    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    timestamp: AwareDatetime
    context: Context
    privacy: Privacy

    # The ``event_name`` of this event: msgspec keeps the tag in the class's config; it is copied
    # here once per class below (read for every event by every projection, so not a property).
    name: ClassVar[str] = ""


# --- user -------------------------------------------------------------------
class UserSignupProps(_Props, frozen=True):
    signup_method: Literal["email", "apple", "google"]
    referral_code: Annotated[str, msgspec.Meta(max_length=32)] | UnsetType = UNSET


class UserLoginProps(_Props, frozen=True):
    method: Literal["password", "magic_link", "apple", "google", "token_refresh"]


class FieldsProps(_Props, frozen=True):
    fields: FieldNames


class ConsentProps(_Props, frozen=True):
    analytics: bool
    personalization: bool
    marketing: bool
    location: bool


class UserSignup(_Event, frozen=True, tag="user_signup"):
    properties: UserSignupProps


class UserLogin(_Event, frozen=True, tag="user_login"):
    properties: UserLoginProps


class UserProfileUpdate(_Event, frozen=True, tag="user_profile_update"):
    properties: FieldsProps


class UserConsentUpdate(_Event, frozen=True, tag="user_consent_update"):
    properties: ConsentProps


# --- activation ---------------------------------------------------------------
class ActivationProps(_Props, frozen=True):
    activation_id: Id


class RoundProps(ActivationProps, frozen=True):
    round: Annotated[int, msgspec.Meta(ge=1, le=8)]
    duration_seconds: Seconds


class AffirmationProps(ActivationProps, frozen=True):
    affirmation_id: Id


class MoodProps(ActivationProps, frozen=True):
    phase: Literal["start", "end"]
    mood: Annotated[int, msgspec.Meta(ge=1, le=10)]


class ActivationDurationProps(ActivationProps, frozen=True):
    duration_seconds: Seconds


class BreathworkProps(ActivationDurationProps, frozen=True):
    pattern: Annotated[str, msgspec.Meta(max_length=32)] | UnsetType = UNSET


class ActivationStarted(_Event, frozen=True, tag="activation_started"):
    properties: ActivationProps


class ActivationRoundCompleted(_Event, frozen=True, tag="activation_round_completed"):
    properties: RoundProps


class ActivationAffirmationSelected(_Event, frozen=True, tag="activation_affirmation_selected"):
    properties: AffirmationProps


class ActivationMoodLogged(_Event, frozen=True, tag="activation_mood_logged"):
    properties: MoodProps


class ActivationCompleted(_Event, frozen=True, tag="activation_completed"):
    properties: ActivationDurationProps


class ActivationBreathworkCompleted(_Event, frozen=True, tag="activation_breathwork_completed"):
    properties: BreathworkProps


# --- microact -----------------------------------------------------------------
class MicroactCreatedProps(_Props, frozen=True):
    microact_id: Id
    category: Id


class MicroactUpdatedProps(_Props, frozen=True):
    microact_id: Id
    fields: FieldNames


class MicroactSharedProps(_Props, frozen=True):
    microact_id: Id
    audience: Literal["community", "followers", "wave"]


class CategoryProps(_Props, frozen=True):
    category: Id


class MicroactCreated(_Event, frozen=True, tag="microact_created"):
    properties: MicroactCreatedProps


class MicroactUpdated(_Event, frozen=True, tag="microact_updated"):
    properties: MicroactUpdatedProps


class MicroactShared(_Event, frozen=True, tag="microact_shared"):
    properties: MicroactSharedProps


class MicroactCategorySelected(_Event, frozen=True, tag="microact_category_selected"):
    properties: CategoryProps


# --- community ----------------------------------------------------------------
class PostProps(_Props, frozen=True):
    post_id: Id


class PostCreatedProps(PostProps, frozen=True):
    kind: Literal["text", "image", "microact"]


class PostCommentedProps(PostProps, frozen=True):
    comment_id: Id


class PostSharedProps(PostProps, frozen=True):
    channel: Id


class FollowProps(_Props, frozen=True):
    followed_user_id: UUID


class PostCreated(_Event, frozen=True, tag="post_created"):
    properties: PostCreatedProps


class PostLiked(_Event, frozen=True, tag="post_liked"):
    properties: PostProps


class PostCommented(_Event, frozen=True, tag="post_commented"):
    properties: PostCommentedProps


class PostShared(_Event, frozen=True, tag="post_shared"):
    properties: PostSharedProps


class UserFollowed(_Event, frozen=True, tag="user_followed"):
    properties: FollowProps


# --- wave ---------------------------------------------------------------------
class WaveProps(_Props, frozen=True):
    wave_id: Id


class WaveLeftProps(WaveProps, frozen=True):
    duration_seconds: Seconds


class WaveInteractionProps(WaveProps, frozen=True):
    kind: Literal["message", "reaction", "question"]


class WaveMicroactProps(WaveProps, frozen=True):
    microact_id: Id


class WaveFeedbackProps(WaveProps, frozen=True):
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    # Free text written by a person: personal data, encrypted like the rest.
    comment: Annotated[str, msgspec.Meta(max_length=2000)] | UnsetType = UNSET


class WaveRegistered(_Event, frozen=True, tag="wave_registered"):
    properties: WaveProps


class WaveJoined(_Event, frozen=True, tag="wave_joined"):
    properties: WaveProps


class WaveLeft(_Event, frozen=True, tag="wave_left"):
    properties: WaveLeftProps


class WaveInteraction(_Event, frozen=True, tag="wave_interaction"):
    properties: WaveInteractionProps


class WaveMicroactShared(_Event, frozen=True, tag="wave_microact_shared"):
    properties: WaveMicroactProps


class WaveFeedbackSubmitted(_Event, frozen=True, tag="wave_feedback_submitted"):
    properties: WaveFeedbackProps


CatalogEvent = (
    UserSignup
    | UserLogin
    | UserProfileUpdate
    | UserConsentUpdate
    | ActivationStarted
    | ActivationRoundCompleted
    | ActivationAffirmationSelected
    | ActivationMoodLogged
    | ActivationCompleted
    | ActivationBreathworkCompleted
    | MicroactCreated
    | MicroactUpdated
    | MicroactShared
    | MicroactCategorySelected
    | PostCreated
    | PostLiked
    | PostCommented
    | PostShared
    | UserFollowed
    | WaveRegistered
    | WaveJoined
    | WaveLeft
    | WaveInteraction
    | WaveMicroactShared
    | WaveFeedbackSubmitted
)

CATALOG_EVENT_TYPES: Final[tuple[type[_Event], ...]] = CatalogEvent.__args__
for _type in CATALOG_EVENT_TYPES:
    _type.name = str(_type.__struct_config__.tag)

CATEGORY_OF: Final[dict[str, str]] = {
    str(cls.__struct_config__.tag): _category
    for cls, _category in zip(
        CATALOG_EVENT_TYPES,
        ["user"] * 4 + ["activation"] * 6 + ["microact"] * 4 + ["community"] * 5 + ["wave"] * 6,
        strict=True,
    )
}

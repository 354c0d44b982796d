"""Native OSS trigger events; the same record is EventBridge's `data` for OSS."""

from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator

from ...core.oss_names import version_id_problem
from ._wire import Wire


class OssBucket(Wire):
    name: str = Field(min_length=1)
    arn: str | None = None
    ownerIdentity: str | None = None  # noqa: N815 - wire name
    virtualBucket: str | None = None  # noqa: N815 - wire name


class OssObject(Wire):
    key: str = Field(min_length=1)
    size: int | None = None
    deltaSize: int | None = None  # noqa: N815 - wire name
    eTag: str | None = None  # noqa: N815 - wire name
    objectMeta: dict[str, Any] | None = None  # noqa: N815 - wire name
    versionId: str | None = Field(  # noqa: N815 - wire name
        default=None, validation_alias=AliasChoices("versionId", "versionid", "VersionId")
    )
    """The version the event is about, in a versioned bucket. UNCONFIRMED where OSS puts it: the
    S3-style `oss.object.versionId` is assumed, `versionid` / `VersionId` are accepted too
    (docs/formats.md, "Versioned buckets"). Empty means none."""

    @field_validator("versionId", mode="before")
    @classmethod
    def _version_id_form(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        problem = version_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class OssDetail(Wire):
    bucket: OssBucket
    object_: OssObject = Field(alias="object")
    ossSchemaVersion: str | None = None  # noqa: N815 - wire name
    ruleId: str | None = None  # noqa: N815 - wire name


class OssEventRecord(Wire):
    """One element of a native OSS trigger's `events` (also EventBridge's `data` for OSS)."""

    eventName: str = Field(min_length=1)  # noqa: N815 - wire name
    eventSource: str | None = None  # noqa: N815 - wire name
    eventTime: str | None = None  # noqa: N815 - wire name
    eventVersion: str | None = None  # noqa: N815 - wire name
    region: str | None = None
    oss: OssDetail
    requestParameters: dict[str, Any] | None = None  # noqa: N815 - wire name
    responseElements: dict[str, Any] | None = None  # noqa: N815 - wire name
    userIdentity: dict[str, Any] | None = None  # noqa: N815 - wire name

    @property
    def is_removal(self) -> bool:
        return self.eventName.split(":", 1)[0] == "ObjectRemoved"

    @property
    def is_creation(self) -> bool:
        return self.eventName.split(":", 1)[0] == "ObjectCreated"

    @property
    def request_id(self) -> str | None:
        value = (self.responseElements or {}).get("requestId")
        return value if isinstance(value, str) and value else None

    @model_validator(mode="after")
    def _created_objects_have_etag(self) -> "OssEventRecord":
        """A created object always has an eTag (it is part of its identity); deletes may not."""
        if self.is_creation and not (self.oss.object_.eTag or "").strip():
            raise ValueError("an ObjectCreated event needs oss.object.eTag")
        return self


class OssEvent(Wire):
    """Native OSS trigger: `{"events": [...]}`; every element is processed, not only the first."""

    events: list[OssEventRecord] = Field(min_length=1)

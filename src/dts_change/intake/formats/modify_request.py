"""Format 2: a ModifyDtsJob-shaped request (its own parameters; `DbList` is merged as additions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from ...core.change import (
    Direction,
    JobTarget,
    ParsedChange,
)
from ...core.dblist import DbList
from ...core.errors import (
    ChangeDocumentError,
    short_repr,
)
from ...core.jsonsafe import load_json
from ...core.values import immutable
from .common import (
    Problems,
    check_id,
    parse_add,
    parse_bool,
    parse_direction,
    parse_dts_id,
    parse_region,
    parse_reserved,
)

MODIFY_PARAMS = (
    "DtsInstanceId",
    "DtsJobId",
    "DbList",
    "SynchronizationDirection",
    "Reserved",
    "FileOssUrl",
    "ClientToken",
    "StructureInitialization",
    "DataInitialization",
    "DataSynchronization",
    "ModifyTypeEnum",
    "RegionId",
    "ResourceGroupId",
    "ZeroEtlJob",
    "FilterTableName",
    "EtlOperatorColumnReference",
)
"""ModifyDtsJob's own parameters (API 2020-01-01); `RegionId` sets the job's region."""

COMMON_PARAMS = (
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
    "BearerToken",
    "ResourceOwnerAccount",
    "OwnerId",
    "Product",
    "Endpoint",
)
"""RPC common parameters (as the console's "preview OpenAPI" output includes them): ignored."""

_UNSUPPORTED_PARAMS = ("FilterTableName", "EtlOperatorColumnReference")
_IGNORED_PARAMS = ("ResourceGroupId", "ZeroEtlJob")
# Parameters that tell a ModifyDtsJob-shaped request apart from other JSON documents.
MODIFY_MARKERS = frozenset(MODIFY_PARAMS) - {"RegionId"}


@immutable
class ParsedModifyRequest:
    """A ModifyDtsJob-shaped request: its inline change (if any) and the FileOssUrl to load."""

    change: ParsedChange | None
    file_oss_url: str | None
    client_token: str | None
    job: JobTarget | None
    flags: Mapping[str, bool] = field(default_factory=dict)
    """The request's StructureInitialization / DataInitialization / DataSynchronization that
    were set: they apply to the FileOssUrl objects as much as to the inline DbList."""
    region: str | None = None
    """`RegionId`, kept even without a job id so that it is checked, never silently dropped."""


def parse(data: Mapping[str, Any], *, what: str, max_objects: int) -> ParsedModifyRequest:
    """Format 2: ModifyDtsJob's own parameters. `DbList` is merged as additions, never an overwrite."""
    problems = Problems(f"ModifyDtsJob request {what}")
    warnings: list[str] = []
    for key in data:
        if key in COMMON_PARAMS or key in MODIFY_PARAMS:
            continue
        problems.add(
            str(key),
            f"unknown parameter {short_repr(key)}; known ModifyDtsJob parameters: "
            + ", ".join(MODIFY_PARAMS),
        )
    action = data.get("Action")
    if action is not None and action != "ModifyDtsJob":
        problems.add("Action", f'expected "ModifyDtsJob", got {short_repr(action)}')
    for key in _UNSUPPORTED_PARAMS:
        if key in data:
            problems.add(key, f"{key} is not supported by this handler; remove it")
    for key in _IGNORED_PARAMS:
        if key in data:
            warnings.append(f"{key} ignored")
    job_id = parse_dts_id(data["DtsJobId"], "DtsJobId", problems) if "DtsJobId" in data else None
    instance_id = (
        parse_dts_id(data["DtsInstanceId"], "DtsInstanceId", problems) if "DtsInstanceId" in data else None
    )
    direction: Direction = "Forward"
    if "SynchronizationDirection" in data:
        direction = parse_direction(data["SynchronizationDirection"], "SynchronizationDirection", problems)
    region = parse_region(data["RegionId"], "RegionId", problems) if "RegionId" in data else None
    job = JobTarget(job_id, instance_id, direction, region) if (job_id or instance_id) else None
    client_token = (
        check_id(data["ClientToken"], "ClientToken", problems, kind="ClientToken")
        if "ClientToken" in data
        else None
    )
    modify_type = data.get("ModifyTypeEnum")
    if modify_type is not None and modify_type != "UPDATE_RESERVED":
        problems.add(
            "ModifyTypeEnum", f'expected "UPDATE_RESERVED" or no value, got {short_repr(modify_type)}'
        )
    reserved_only = modify_type == "UPDATE_RESERVED"
    add: DbList | None = None
    if "DbList" in data:
        value = data["DbList"]
        if reserved_only:
            problems.add("DbList", 'DbList cannot be sent with ModifyTypeEnum "UPDATE_RESERVED"')
        elif isinstance(value, str):
            try:
                value = load_json(value, what="DbList", max_depth=32)
            except ChangeDocumentError as exc:
                problems.add("DbList", exc.message)
                value = None
        if value is not None and not reserved_only:
            add, _ = (
                parse_add(value, "DbList", problems, max_objects=max_objects)
                if isinstance(value, Mapping)
                else (None, [])
            )
            if not isinstance(value, Mapping):
                problems.add("DbList", f"expected a DbList object, got {short_repr(value)}")
    reserved = parse_reserved(data["Reserved"], "Reserved", problems) if "Reserved" in data else None
    file_oss_url = data.get("FileOssUrl")
    if file_oss_url is not None and (not isinstance(file_oss_url, str) or not file_oss_url.strip()):
        problems.add("FileOssUrl", f"expected a URL string, got {short_repr(file_oss_url)}")
        file_oss_url = None
    if file_oss_url is not None and reserved_only:
        problems.add("FileOssUrl", 'FileOssUrl cannot be sent with ModifyTypeEnum "UPDATE_RESERVED"')
    flags: dict[str, bool | None] = {}
    for key in ("StructureInitialization", "DataInitialization", "DataSynchronization"):
        flags[key] = parse_bool(data[key], key, problems) if key in data else None
    if add is None and reserved is None and file_oss_url is None and not problems.items:
        problems.add("", "a ModifyDtsJob request needs DbList, Reserved or FileOssUrl")
    problems.raise_if_any()
    change = None
    if add is not None or reserved is not None:
        change = ParsedChange(
            format="modify-dts-job",
            doc_id=client_token,
            id_kind="ClientToken",
            job=job,
            add=add,
            reserved=reserved,
            structure_initialization=flags["StructureInitialization"],
            data_initialization=flags["DataInitialization"],
            data_synchronization=flags["DataSynchronization"],
            warnings=tuple(warnings),
        )
    return ParsedModifyRequest(
        change,
        file_oss_url.strip() if file_oss_url else None,
        client_token,
        job,
        {k: v for k, v in flags.items() if v is not None},
        region,
    )

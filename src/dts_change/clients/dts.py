"""DTS OpenAPI (2020-01-01, RPC style) client: DescribeDtsJobDetail, ModifyDtsJob, DescribeDtsJobs.

Requests are POSTs to `/` signed with ACS3-HMAC-SHA256 (default) or RPC V1; scalars go in the
query, `DbList`/`Reserved`/`ModifyTypeEnum`/`FilterTableName`/`EtlOperatorColumnReference` in a
form body, as the official SDK does (reference dts-api §3.1, §4). Credentials come from the provider
on every request; after `InvalidSecurityToken.Expired` the provider is refreshed and the request is
signed again and sent exactly once more. Every failure becomes a typed error (remote_errors).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Literal

from .. import __version__
from ..core.errors import (
    ConfigurationError,
    DbListTooLargeError,
    DtsChangeError,
    InvalidParameterError,
    JobNotFoundError,
    RemoteError,
    RemoteInternalError,
    short_repr,
)
from . import signing
from .credentials import Credentials, CredentialsSource, as_credentials_source
from .dts_models import JobDetail, JobsPage, JobSummary, ModifyResult, is_success
from .remote_errors import DTS_ERRORS, normalise_dts_code, remote_error
from .transport import Endpoint, HttpTransport, Timeouts, check_region, parse_endpoint, read_capped

API_VERSION = "2020-01-01"
EXPIRED_TOKEN_CODE = "InvalidSecurityToken.Expired"  # noqa: S105 - an error code
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_CLIENT_TOKEN_LENGTH = 64
DIRECTIONS = ("Forward", "Reverse")
_MAX_LIST_PAGES = 100

SignatureVersion = Literal["acs3", "v1"]
Params = Mapping[str, "str | bool | int | None"]


CENTRAL_ENDPOINT_HOST = "dts.aliyuncs.com"
# The DTS API's published endpoint table (DTS API reference, "Request syntax" > "Endpoints"):
# these regions answer on dts.<region>.aliyuncs.com (Finance Cloud Hangzhou on Hangzhou's). Every
# other region, among them Ulanqab, Chengdu and Finance Cloud Beijing, which the table lists with
# the central endpoint, uses dts.aliyuncs.com. DTS_ENDPOINT overrides the choice.
REGIONAL_ENDPOINT_HOSTS = {
    **{
        region: f"dts.{region}.aliyuncs.com"
        for region in (
            "cn-hangzhou", "cn-shanghai", "cn-qingdao", "cn-beijing", "cn-zhangjiakou",
            "cn-huhehaote", "cn-shenzhen", "cn-hongkong", "ap-northeast-1", "ap-southeast-1",
            "ap-southeast-2", "ap-southeast-3", "ap-southeast-5", "ap-south-1", "us-east-1",
            "us-west-1", "eu-west-1", "eu-central-1", "me-east-1", "cn-shanghai-finance-1",
            "cn-shenzhen-finance-1",
        )
    },
    "cn-hangzhou-finance": "dts.cn-hangzhou.aliyuncs.com",
}


def default_endpoint(region: str) -> str:
    """The published endpoint of `region`: its regional host, or the central one when it has none."""
    return f"https://{REGIONAL_ENDPOINT_HOSTS.get(region, CENTRAL_ENDPOINT_HOST)}"


def _wire_value(value: str | bool | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _clean(params: Params) -> dict[str, str]:
    return {k: _wire_value(v) for k, v in params.items() if v is not None}


def _encode_query(query: Mapping[str, str]) -> str:
    return "&".join(
        f"{signing.percent_encode(k)}={signing.percent_encode(v)}" for k, v in sorted(query.items())
    )


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _new_nonce() -> str:
    return os.urandom(16).hex()  # same as secrets.token_hex(16), without importing secrets


class DtsClient:
    """A DTS OpenAPI client for one region; keeps only its HTTP session between calls."""

    def __init__(
        self,
        region: str,
        endpoint: str | None = None,
        credentials: CredentialsSource | Credentials | None = None,
        signature: SignatureVersion = "acs3",
        *,
        timeouts: Timeouts | None = None,
        proxies: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = _utc_now,
        nonce: Callable[[], str] = _new_nonce,
    ) -> None:
        if signature not in ("acs3", "v1"):
            raise ConfigurationError(
                f"Invalid DTS signature version {short_repr(signature)} -> expected 'acs3' or 'v1'"
            )
        check_region(region, "DTS")
        self.region = region
        self.endpoint: Endpoint = parse_endpoint(endpoint or default_endpoint(region), setting="DTS endpoint")
        self.signature = signature
        self._credentials: CredentialsSource = as_credentials_source(credentials)
        self._transport = HttpTransport(timeouts=timeouts, proxies=proxies)
        self._clock = clock
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"DtsClient(region={self.region!r}, endpoint={self.endpoint.base_url!r})"

    def close(self) -> None:
        self._transport.close()

    # ------------------------------------------------------------------ actions

    def describe_dts_job_detail(
        self,
        job_id: str,
        instance_id: str | None = None,
        direction: str | None = None,
        sync_sub_job_history: bool = False,
        *,
        region_id: str | None = None,
        zero_etl_job: bool | None = None,
        resource_group_id: str | None = None,
        db_object_output_type: str | None = None,
    ) -> JobDetail:
        """Read a job: status, DbObject (raw), sub-tasks. Note `DtsInstanceID` with capital ID."""
        _check_direction(direction)
        query = _clean(
            {
                "DtsJobId": job_id,
                "DtsInstanceID": instance_id,
                "SynchronizationDirection": direction,
                "SyncSubJobHistory": True if sync_sub_job_history else None,
                "RegionId": region_id or self.region,
                "ZeroEtlJob": zero_etl_job,
                "ResourceGroupId": resource_group_id,
                "DbObjectOutputType": db_object_output_type,
            }
        )
        body = self.call("DescribeDtsJobDetail", query, {}, where=_where(job_id, direction))
        return JobDetail.from_response(body)

    def modify_dts_job(
        self,
        instance_id: str,
        job_id: str | None = None,
        db_list_json: str | None = None,
        direction: str | None = None,
        *,
        client_token: str | None = None,
        reserved: dict[str, Any] | None = None,
        modify_type: str | None = None,
        structure_initialization: bool | None = None,
        data_initialization: bool | None = None,
        data_synchronization: bool | None = None,
        file_oss_url: str | None = None,
        filter_table_name: str | None = None,
        etl_operator_column_reference: str | None = None,
        zero_etl_job: bool | None = None,
        resource_group_id: str | None = None,
        region_id: str | None = None,
    ) -> ModifyResult:
        """Submit a modification. `db_list_json` is sent byte for byte as given (the caller hashed
        it for ClientToken). `reserved` alone means `ModifyTypeEnum=UPDATE_RESERVED`.
        """
        _check_direction(direction)
        _check_client_token(client_token)
        if db_list_json is not None:
            from ..core.dblist import MAX_DBLIST_BYTES  # noqa: PLC0415 - keep this module light to import

            size = len(db_list_json.encode("utf-8"))
            if size > MAX_DBLIST_BYTES:
                raise DbListTooLargeError(
                    f"DbList for job {short_repr(job_id)} is {size} bytes -> limit {MAX_DBLIST_BYTES} bytes"
                )
        reserved_json = (
            json.dumps(reserved, separators=(",", ":"), ensure_ascii=False) if reserved is not None else None
        )
        if modify_type is None and reserved_json is not None and db_list_json is None:
            modify_type = "UPDATE_RESERVED"
        query = _clean(
            {
                "DtsInstanceId": instance_id,
                "DtsJobId": job_id,
                "RegionId": region_id or self.region,
                "SynchronizationDirection": direction,
                "ClientToken": client_token,
                "StructureInitialization": structure_initialization,
                "DataInitialization": data_initialization,
                "DataSynchronization": data_synchronization,
                "FileOssUrl": file_oss_url,
                "ZeroEtlJob": zero_etl_job,
                "ResourceGroupId": resource_group_id,
            }
        )
        form = _clean(
            {
                "DbList": db_list_json,
                "Reserved": reserved_json,
                "ModifyTypeEnum": modify_type,
                "FilterTableName": filter_table_name,
                "EtlOperatorColumnReference": etl_operator_column_reference,
            }
        )
        body = self.call("ModifyDtsJob", query, form, where=_where(job_id or instance_id, direction))
        return ModifyResult.from_response(body)

    def describe_dts_jobs(
        self,
        job_type: str = "SYNC",
        instance_id: str | None = None,
        job_id: str | None = None,
        page_number: int = 1,
        page_size: int = 30,
        *,
        without_db_list: bool = True,
        status: str | None = None,
        resource_group_id: str | None = None,
        zero_etl_job: bool | None = None,
    ) -> JobsPage:
        """One page of jobs. `JobType` defaults to SYNC (the service's default is MIGRATION)."""
        query = _clean(
            {
                "JobType": job_type,
                "DtsInstanceId": instance_id,
                "DtsJobId": job_id,
                "PageNumber": page_number,
                "PageSize": page_size,
                "WithoutDbList": without_db_list,
                "Status": status,
                "Region": self.region,
                "RegionId": self.region,
                "ResourceGroupId": resource_group_id,
                "ZeroEtlJob": zero_etl_job,
            }
        )
        where = f"region {self.region}" + (f" instance {instance_id}" if instance_id else "")
        return JobsPage.from_response(self.call("DescribeDtsJobs", query, {}, where=where))

    def iter_dts_jobs(self, **filters: Any) -> Iterator[JobSummary]:
        """Every job matching `filters` (arguments of describe_dts_jobs), page after page."""
        page_size = int(filters.pop("page_size", 30))
        seen = 0
        for page_number in range(1, _MAX_LIST_PAGES + 1):
            page = self.describe_dts_jobs(page_number=page_number, page_size=page_size, **filters)
            yield from page.jobs
            seen += len(page.jobs)
            if not page.jobs or (page.total is not None and seen >= page.total):
                return

    def resolve_job_id(self, instance_id: str) -> str:
        """The sync job id of a DTS instance (exactly one expected)."""
        found = {
            j.job_id
            for j in self.iter_dts_jobs(instance_id=instance_id)
            if j.instance_id == instance_id and j.job_id
        }
        return _single(found, f"instance {short_repr(instance_id)}", "sync job")

    def resolve_instance_id(self, job_id: str) -> str:
        """The DTS instance id of a sync job."""
        found = {
            j.instance_id for j in self.iter_dts_jobs(job_id=job_id) if j.job_id == job_id and j.instance_id
        }
        return _single(found, f"job {short_repr(job_id)}", "instance")

    # ------------------------------------------------------------------ one RPC call

    def call(
        self, action: str, query: Mapping[str, str], form: Mapping[str, str], *, where: str
    ) -> dict[str, Any]:
        """Send one action and return its JSON body; refresh credentials once on token expiry."""
        credentials = self._credentials.get()
        try:
            return self._call_once(action, query, form, where, credentials)
        except DtsChangeError as exc:
            if normalise_dts_code(exc.remote_code or "") != EXPIRED_TOKEN_CODE:
                raise
        credentials = self._credentials.refresh()
        return self._call_once(action, query, form, where, credentials)

    def _call_once(
        self,
        action: str,
        query: Mapping[str, str],
        form: Mapping[str, str],
        where: str,
        credentials: Credentials,
    ) -> dict[str, Any]:
        body = signing.form_encode(form).encode("utf-8") if form else b""
        content_type = signing.FORM_CONTENT_TYPE if form else None
        when, nonce = self._clock(), self._nonce()
        if self.signature == "acs3":
            url_query = dict(query)
            headers, _ = signing.acs3_request_headers(
                host=self.endpoint.netloc,
                action=action,
                version=API_VERSION,
                query=url_query,
                body=body,
                content_type=content_type,
                when=when,
                nonce=nonce,
                access_key_id=credentials.access_key_id,
                access_key_secret=credentials.access_key_secret,
                security_token=credentials.security_token,
            )
        else:
            url_query = signing.rpc_v1_common_params(
                action=action,
                version=API_VERSION,
                access_key_id=credentials.access_key_id,
                when=when,
                nonce=nonce,
                security_token=credentials.security_token,
            )
            url_query.update(query)
            url_query["Signature"] = signing.rpc_v1_sign(
                "POST", {**url_query, **form}, credentials.access_key_secret
            ).signature
            headers = {"host": self.endpoint.netloc}
            if content_type:
                headers["content-type"] = content_type
        headers["accept"] = "application/json"
        headers["user-agent"] = f"dts-change-handler/{__version__}"
        url = f"{self.endpoint.base_url}/?{_encode_query(url_query)}"
        what = f"{action} to {self.endpoint.netloc}"
        response = self._transport.send("POST", url, headers=headers, body=body, stream=True, what=what)
        raw = read_capped(response, MAX_RESPONSE_BYTES, what=f"{action} response")
        return self._interpret(
            action,
            where,
            status=response.status_code,
            headers=response.headers,
            raw=raw,
            credentials=credentials,
        )

    def _interpret(
        self,
        action: str,
        where: str,
        *,
        status: int,
        headers: Mapping[str, str],
        raw: bytes,
        credentials: Credentials,
    ) -> dict[str, Any]:
        header_request_id = headers.get("x-acs-request-id")
        if 300 <= status < 400:
            raise RemoteError(
                f"{action} answered HTTP {status} (redirect) for {where} -> redirects are never "
                "followed; expected an answer from the endpoint itself",
                http_status=status,
                request_id=header_request_id,
                action=action,
                hint="Check DTS_ENDPOINT: it must be the API endpoint, not a redirecting proxy",
            )
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            body = None
        if not isinstance(body, dict):
            cls = RemoteInternalError if status >= 500 else RemoteError
            raise cls(
                f"{action} answered HTTP {status} for {where} with a body that is not a JSON "
                f"object -> expected JSON ({len(raw)} bytes received)",
                http_status=status,
                request_id=header_request_id,
                action=action,
            )
        if status < 300 and is_success(body):
            return body
        first, second = ("Code", "ErrCode") if status >= 300 else ("ErrCode", "Code")
        code = _str_or_none(body.get(first)) or _str_or_none(body.get(second))
        message = _str_or_none(body.get("Message")) or _str_or_none(body.get("ErrMessage")) or ""
        dynamic = _str_or_none(body.get("DynamicMessage"))
        if dynamic:
            message = message.replace("%s", dynamic) if "%s" in message else f"{message} {dynamic}"
        http_status = status if status >= 300 else _int_or(body.get("HttpStatusCode"), status)
        raise remote_error(
            DTS_ERRORS,
            action=action,
            where=where,
            http_status=http_status,
            code=code,
            server_message=message,
            request_id=_str_or_none(body.get("RequestId")) or header_request_id,
            secrets=credentials.secrets(),
            retry_after=_retry_after_seconds(headers.get("x-acs-retry-after")),
        )


# ---------------------------------------------------------------- helpers


def _where(job: str | None, direction: str | None) -> str:
    return f"job {job or '?'} {direction or 'Forward'}"


def _check_direction(direction: str | None) -> None:
    if direction is not None and direction not in DIRECTIONS:
        raise InvalidParameterError(
            f"Invalid SynchronizationDirection {short_repr(direction)} -> expected 'Forward' or 'Reverse'"
        )


def _check_client_token(token: str | None) -> None:
    if token is None:
        return
    if not token or len(token) > MAX_CLIENT_TOKEN_LENGTH or not token.isascii():
        raise InvalidParameterError(
            f"Invalid ClientToken {short_repr(token)} -> expected 1-{MAX_CLIENT_TOKEN_LENGTH} "
            "ASCII characters"
        )


def _single(found: set[str], owner: str, what: str) -> str:
    values = sorted(found)
    if not values:
        raise JobNotFoundError(f"No {what} found for {owner} in DescribeDtsJobs (JobType SYNC)")
    if len(values) > 1:
        raise ConfigurationError(
            f"Ambiguous {what} for {owner}: {short_repr(values)} -> expected exactly one",
            hint="Set both DTS_INSTANCE_ID and DTS_JOB_ID explicitly",
        )
    return values[0]


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _retry_after_seconds(value: str | None) -> float | None:
    """`x-acs-retry-after` in seconds. tea-openapi 0.4.6 hands the value to a millisecond sleep, so
    it is read as milliseconds (no document says; UNCONFIRMED); non-positive or junk means absent."""
    if not value:
        return None
    try:
        millis = float(value.strip())
    except ValueError:
        return None
    return millis / 1000.0 if millis > 0 and millis != float("inf") else None

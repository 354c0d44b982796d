"""Pinned signing inputs and answers from the signing reference (signing-and-sdks A1-A3, B1-B3).

Shared by the unit tests (our signers alone) and the contract tests (the official SDKs).
"""

from __future__ import annotations

from datetime import datetime, timezone

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# A1: the V3 doc's "fixed parameter values" example.
ACS3_DOC = {
    "method": "POST",
    "query": {
        "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
        "RegionId": "cn-shanghai",
    },
    "headers": {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2023-10-26T10:22:32Z",
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": EMPTY_SHA256,
    },
    "access_key_id": "YourAccessKeyId",
    "access_key_secret": "YourAccessKeySecret",
    "hashed_canonical_request": "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259",
    "signature": "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
}

# B1 "smallest oracle": ModifyDtsJob-like request, STS.
STS_KEY_ID = "testAccessKeyId"
STS_SECRET = "testAccessKeySecret"
STS_TOKEN = "testSecurityToken/+="
B1_DATE = "2024-01-02T03:04:05Z"
B1_NONCE = "0123456789abcdef0123456789abcdef"
B1_WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
B1_BODY = "DbList=%7B%22a%22%3A1%7D"
B1_SIGNATURE = "ab5b8b180b58b271ad07254f6994e5c02df871af92ef962685516b2fdb74683f"
B1_SIGNED_HEADERS = (
    "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;"
    "x-acs-signature-nonce;x-acs-version"
)

# A2: the RPC V1 example (GET, DescribeDedicatedHosts).
RPC_V1_DOC = {
    "params": {
        "AccessKeyId": "testid",
        "Action": "DescribeDedicatedHosts",
        "Format": "JSON",
        "RegionId": "cn-beijing",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb",
        "SignatureVersion": "1.0",
        "Timestamp": "2023-03-13T08:34:30Z",
        "Version": "2014-05-26",
    },
    "secret": "testsecret",
    "signature": "9NaGiOspFP5UPcwX8Iwt2YJXXuk=",
}

# B2: V1 DescribeDtsJobDetail with STS, POST.
RPC_V1_DTS = {
    "params": {
        "Action": "DescribeDtsJobDetail",
        "Format": "json",
        "Version": "2020-01-01",
        "AccessKeyId": STS_KEY_ID,
        "SecurityToken": STS_TOKEN,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": B1_NONCE,
        "Timestamp": B1_DATE,
        "RegionId": "cn-hangzhou",
        "DtsJobId": "job1",
    },
    "signature": "Wj94vI47k9SWbjr6vMVmisSKAU4=",
}

# B3: OSS, STS, PUT ?acl on examplebucket / "dir/hello world+1.txt".
OSS_BUCKET = "examplebucket"
OSS_KEY = "dir/hello world+1.txt"
OSS_REGION = "cn-hangzhou"
OSS_V1_HEADERS = {
    "Content-Type": "text/plain",
    "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==",
    "x-oss-meta-Author": "alice",
}
OSS_V1_AUTHORIZATION = "OSS testAccessKeyId:e1ccC62ZrplY5uvDLGpAM99DvW0="
OSS_V4_HEADERS = {"Content-Type": "text/plain", "x-oss-meta-author": "alice"}
OSS_V4_SIGNATURE = "ff6a71550b27578d0a0f04ebd4701de4fd81793834d450caa6986986f809ebc1"

# oss-v2 repo unit-test vector (V1, long-term keys, x-oss-date as the date).
OSS_V1_REPO = {
    "headers": {
        "Content-MD5": "eB5eJF1ptWaXm4bijSPyxw==",
        "Content-Type": "text/html",
        "x-oss-meta-author": "alice",
        "x-oss-meta-magic": "abracadabra",
        "x-oss-date": "Wed, 28 Dec 2022 10:27:41 GMT",
    },
    "authorization": "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=",
}

"""The DTS client's default endpoint follows the published endpoint table (DTS API reference,
"Request syntax" > "Endpoints"), restated here as the plain table the documentation prints."""

from __future__ import annotations

import pytest

from dts_change.clients.credentials import Credentials
from dts_change.clients.dts import DtsClient, default_endpoint

# Region id -> endpoint host, as the documentation's table lists it.
PUBLISHED = {
    "cn-hangzhou": "dts.cn-hangzhou.aliyuncs.com",
    "cn-shanghai": "dts.cn-shanghai.aliyuncs.com",
    "cn-qingdao": "dts.cn-qingdao.aliyuncs.com",
    "cn-beijing": "dts.cn-beijing.aliyuncs.com",
    "cn-zhangjiakou": "dts.cn-zhangjiakou.aliyuncs.com",
    "cn-huhehaote": "dts.cn-huhehaote.aliyuncs.com",
    "cn-wulanchabu": "dts.aliyuncs.com",  # Ulanqab
    "cn-shenzhen": "dts.cn-shenzhen.aliyuncs.com",
    "cn-chengdu": "dts.aliyuncs.com",
    "cn-hongkong": "dts.cn-hongkong.aliyuncs.com",
    "ap-northeast-1": "dts.ap-northeast-1.aliyuncs.com",
    "ap-southeast-1": "dts.ap-southeast-1.aliyuncs.com",
    "ap-southeast-2": "dts.ap-southeast-2.aliyuncs.com",
    "ap-southeast-3": "dts.ap-southeast-3.aliyuncs.com",
    "ap-southeast-5": "dts.ap-southeast-5.aliyuncs.com",
    "us-east-1": "dts.us-east-1.aliyuncs.com",
    "us-west-1": "dts.us-west-1.aliyuncs.com",
    "eu-west-1": "dts.eu-west-1.aliyuncs.com",
    "eu-central-1": "dts.eu-central-1.aliyuncs.com",
    "ap-south-1": "dts.ap-south-1.aliyuncs.com",
    "me-east-1": "dts.me-east-1.aliyuncs.com",
    "cn-hangzhou-finance": "dts.cn-hangzhou.aliyuncs.com",  # Finance Cloud Hangzhou
    "cn-shanghai-finance-1": "dts.cn-shanghai-finance-1.aliyuncs.com",
    "cn-shenzhen-finance-1": "dts.cn-shenzhen-finance-1.aliyuncs.com",
    "cn-beijing-finance-1": "dts.aliyuncs.com",  # Finance Cloud Beijing
}
# DTS regions (DTS "Supported regions") that the endpoint table does not list.
UNLISTED = ("cn-heyuan", "cn-guangzhou", "ap-southeast-6", "ap-southeast-7", "ap-northeast-2", "me-central-1")


@pytest.mark.parametrize(("region", "host"), sorted(PUBLISHED.items()))
def test_default_endpoint_matches_published_table(region: str, host: str) -> None:
    assert default_endpoint(region) == f"https://{host}"


@pytest.mark.parametrize("region", UNLISTED)
def test_default_endpoint_region_without_regional_endpoint_uses_central(region: str) -> None:
    assert default_endpoint(region) == "https://dts.aliyuncs.com"


def test_client_dts_endpoint_setting_overrides_the_table() -> None:
    client = DtsClient("cn-chengdu", "https://dts-vpc.example.internal", Credentials("id", "s"))
    assert client.endpoint.base_url == "https://dts-vpc.example.internal"
    assert DtsClient("cn-chengdu", None, Credentials("id", "s")).endpoint.base_url == "https://dts.aliyuncs.com"

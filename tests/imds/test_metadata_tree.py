"""The whole metadata tree AWS documents, over real HTTP, read with real curl, botocore's own
IMDS fetchers and openssl, and compared with what the real AWS CLI's describe-instances says.

AWS pages followed: "Instance metadata categories" (ec2-ug instancedata-data-categories.md,
with its dynamic data categories), "Instance identity documents" (instance-identity-documents.md)
and "Retrieve instance metadata" (instancedata-data-retrieval.md); AWS's own metadata mock
(aws/amazon-ec2-metadata-mock, pkg/config/defaults/aemm-metadata-default-values.json and
test/e2e/golden/) for the values AWS documents only by example.
"""

import base64
import json
import subprocess
from datetime import UTC, datetime

import pytest
from botocore.utils import IMDSFetcher, InstanceMetadataFetcher, InstanceMetadataRegionFetcher
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from learnlab.gate.client import aws_client
from learnlab.imds.metadata import _document
from learnlab.imds.services import endpoint_for
from learnlab.lib.iam_policy import EC2_TRUST_POLICY

pytestmark = pytest.mark.django_db(transaction=True)

AMI = "ami-0453ec754f44f9a4a"
# Every category AWS lists for an instance with a profile, a public address, a key pair and
# instance metadata tags allowed, in AWS's order (the categories page; a real listing).
FULL_LISTING = [
    "ami-id", "ami-launch-index", "ami-manifest-path", "block-device-mapping/", "events/",
    "hostname", "iam/", "identity-credentials/", "instance-action", "instance-id",
    "instance-life-cycle", "instance-type", "local-hostname", "local-ipv4", "mac", "metrics/",
    "network/", "placement/", "profile", "public-hostname", "public-ipv4", "public-keys/",
    "reservation-id", "security-groups", "services/", "system", "tags/",
]  # fmt: skip


def _curl(url: str, *args: str) -> tuple[int, bytes, dict]:
    result = subprocess.run(["curl", "-s", "-i", *args, url], capture_output=True, timeout=30)
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:]}
    return int(lines[0].split()[1]), body, headers


@pytest.fixture
def account(sandbox):
    """A sandbox whose lab user has made a role EC2 may assume, a profile, a key pair and two
    security groups in the default VPC."""
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.create_instance_profile(InstanceProfileName="web")
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="web")
    ec2.create_key_pair(KeyName="lab-key")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    groups = [
        ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc["VpcId"])["GroupId"]
        for name in ("web-a", "web-b")
    ]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "Subnets"
    ][0]
    return {"sandbox": sandbox, "iam": iam, "ec2": ec2, "groups": groups, "subnet": subnet}


@pytest.fixture
def imds(live_server):
    """The metadata service of one instance, read with curl: (status, body, headers)."""

    def at(sandbox, instance_id):
        endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
        base = f"{live_server.url}/imds/{endpoint.token}"

        def get(path, *args):
            status, body, headers = _curl(base + path, *args)
            return status, body.decode("utf-8", errors="replace"), headers

        get.base = base + "/"
        return get

    return at


def _launch(account, **extra) -> str:
    return account["ec2"].run_instances(
        ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1, **extra
    )["Instances"][0]["InstanceId"]


def _full_instance(account) -> str:
    """Profile, key pair, two groups, tags allowed in metadata, user data: everything listed."""
    return _launch(
        account,
        IamInstanceProfile={"Name": "web"},
        KeyName="lab-key",
        SecurityGroupIds=account["groups"],
        UserData="#!/bin/bash\necho hello",
        MetadataOptions={"InstanceMetadataTags": "enabled"},
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web server"}]}
        ],
    )


def _walk(get, path: str, seen: dict) -> None:
    """GET ``path`` (a directory) and every entry it lists, depth first."""
    status, body, _ = get(path)
    assert status == 200, (path, status, body)
    seen[path] = body
    for entry in body.split("\n") if body else []:
        if path == "/latest/" and entry in ("dynamic", "meta-data"):
            entry += "/"  # AWS lists these two directories without a slash
        if "=" in entry:  # public-keys/: "0=lab-key" is the directory 0/
            entry = entry.split("=", 1)[0] + "/"
        if entry.endswith("/"):
            _walk(get, path + entry, seen)
        else:
            status, leaf, _ = get(path + entry)
            assert status == 200, (path + entry, status, leaf)
            seen[path + entry] = leaf


def test_every_listed_path_answers_from_the_version_list_down(account, imds):
    """Instance metadata categories: everything listed answers, nothing listed 404s."""
    instance_id = _full_instance(account)
    get = imds(account["sandbox"], instance_id)
    status, versions, _ = get("/")
    assert status == 200
    versions = versions.split("\n")
    assert versions[0] == "1.0" and versions[-1] == "latest" and "2021-03-23" in versions
    seen = {}
    _walk(get, "/latest/", seen)
    assert seen["/latest/"] == "dynamic\nmeta-data\nuser-data"
    assert seen["/latest/meta-data/"].split("\n") == FULL_LISTING
    assert seen["/latest/dynamic/"] == "fws/\ninstance-identity/"
    assert seen["/latest/dynamic/instance-identity/"] == "document\npkcs7\nrsa2048\nsignature"
    assert seen["/latest/meta-data/block-device-mapping/"] == "ami\nroot"
    assert seen["/latest/meta-data/events/maintenance/scheduled"] == "[]"
    assert seen["/latest/meta-data/services/domain"] == "amazonaws.com"
    assert seen["/latest/meta-data/services/partition"] == "aws"
    assert seen["/latest/meta-data/instance-life-cycle"] == "on-demand"
    assert seen["/latest/meta-data/instance-action"] == "none"
    assert seen["/latest/meta-data/profile"] == "default-hvm"
    assert seen["/latest/meta-data/system"] == "nitro"
    assert seen["/latest/meta-data/public-keys/"] == "0=lab-key"
    assert seen["/latest/meta-data/public-keys/0/openssh-key"].startswith("ssh-rsa ")
    assert seen["/latest/meta-data/public-keys/0/openssh-key"].endswith(" lab-key")
    assert seen["/latest/meta-data/tags/instance/"] == "Name"
    assert seen["/latest/meta-data/tags/instance/Name"] == "web server"
    assert seen["/latest/meta-data/identity-credentials/ec2/"] == "info\nsecurity-credentials/"
    assert seen["/latest/meta-data/iam/security-credentials/"] == "web"
    mac = seen["/latest/meta-data/mac"]
    assert seen["/latest/meta-data/network/interfaces/macs/"] == mac + "/"
    interface = seen[f"/latest/meta-data/network/interfaces/macs/{mac}/"].split("\n")
    assert interface == [
        "device-number", "interface-id", "ipv4-associations/", "local-hostname", "local-ipv4s",
        "mac", "network-card-index", "owner-id", "public-hostname", "public-ipv4s",
        "security-group-ids", "security-groups", "subnet-id", "subnet-ipv4-cidr-block",
        "vpc-id", "vpc-ipv4-cidr-block", "vpc-ipv4-cidr-blocks",
    ]  # fmt: skip
    # Each version AWS lists serves the tree; a version it does not list is a 404.
    for version in versions[:-1]:
        assert get(f"/{version}/meta-data/instance-id")[:2] == (200, instance_id), version
    assert get("/2099-01-01/meta-data/instance-id")[0] == 404


def _described(aws, sandbox, instance_id) -> dict:
    result = aws(
        "ec2", "describe-instances", "--instance-ids", instance_id, sandbox=sandbox, check=True
    )
    reservation = json.loads(result.stdout)["Reservations"][0]
    return {**reservation["Instances"][0], "ReservationId": reservation["ReservationId"]}


@pytest.mark.parametrize("public", [True, False], ids=["public-ip", "private-only"])
def test_values_agree_with_describe_instances(account, imds, aws, public):
    """Instance metadata categories and Instance identity documents: each value is the one EC2
    reports for the same instance (describe-instances through the real AWS CLI)."""
    network = [
        {
            "DeviceIndex": 0,
            "SubnetId": account["subnet"]["SubnetId"],
            "AssociatePublicIpAddress": public,
            "Groups": account["groups"],
        }
    ]
    instance_id = _launch(account, NetworkInterfaces=network, IamInstanceProfile={"Name": "web"})
    sandbox = account["sandbox"]
    get = imds(sandbox, instance_id)
    ec2 = _described(aws, sandbox, instance_id)
    nic = ec2["NetworkInterfaces"][0]

    def meta(path):
        status, body, _ = get("/latest/meta-data/" + path)
        assert status == 200, (path, status, body)
        return body

    assert meta("instance-id") == ec2["InstanceId"]
    assert meta("ami-id") == ec2["ImageId"]
    assert meta("instance-type") == ec2["InstanceType"]
    assert meta("ami-launch-index") == str(ec2["AmiLaunchIndex"])
    assert meta("reservation-id") == ec2["ReservationId"] and ec2["ReservationId"].startswith("r-")
    assert meta("local-ipv4") == ec2["PrivateIpAddress"]
    assert meta("hostname") == meta("local-hostname") == ec2["PrivateDnsName"]
    assert meta("local-hostname") == "ip-" + ec2["PrivateIpAddress"].replace(".", "-") + (
        ".ec2.internal"
    )
    assert meta("local-hostname").endswith(".ec2.internal")
    assert meta("placement/availability-zone") == ec2["Placement"]["AvailabilityZone"]
    assert meta("placement/region") == "us-east-1"
    zones = aws("ec2", "describe-availability-zones", sandbox=sandbox, check=True)
    zone_ids = {z["ZoneName"]: z["ZoneId"] for z in json.loads(zones.stdout)["AvailabilityZones"]}
    assert meta("placement/availability-zone-id") == zone_ids[ec2["Placement"]["AvailabilityZone"]]
    # The interface's groups are the instance's (moto leaves the top-level list empty when the
    # groups come with NetworkInterfaces; AWS fills both).
    names = sorted(g["GroupName"] for g in nic["Groups"])
    assert (
        not ec2["SecurityGroups"] or sorted(g["GroupName"] for g in ec2["SecurityGroups"]) == names
    )
    assert sorted(meta("security-groups").split("\n")) == names == ["web-a", "web-b"]
    assert meta("block-device-mapping/root") == ec2["RootDeviceName"]
    mac = meta("mac")
    assert mac == nic["MacAddress"]
    base = f"network/interfaces/macs/{mac}/"
    assert meta(base + "mac") == mac
    assert meta(base + "interface-id") == nic["NetworkInterfaceId"]
    assert meta(base + "device-number") == str(nic["Attachment"]["DeviceIndex"])
    assert meta(base + "owner-id") == nic["OwnerId"] == sandbox.account_id
    assert meta(base + "subnet-id") == ec2["SubnetId"] == nic["SubnetId"]
    assert meta(base + "vpc-id") == ec2["VpcId"] == nic["VpcId"]
    assert meta(base + "subnet-ipv4-cidr-block") == account["subnet"]["CidrBlock"]
    vpcs = aws("ec2", "describe-vpcs", "--vpc-ids", ec2["VpcId"], sandbox=sandbox, check=True)
    vpc = json.loads(vpcs.stdout)["Vpcs"][0]
    assert meta(base + "vpc-ipv4-cidr-block") == vpc["CidrBlock"]
    assert meta(base + "vpc-ipv4-cidr-blocks").split("\n") == [
        a["CidrBlock"] for a in vpc["CidrBlockAssociationSet"]
    ]
    assert meta(base + "local-ipv4s").split("\n") == [
        a["PrivateIpAddress"] for a in nic["PrivateIpAddresses"]
    ]
    assert sorted(meta(base + "security-group-ids").split("\n")) == sorted(account["groups"])
    assert sorted(account["groups"]) == sorted(g["GroupId"] for g in nic["Groups"])
    assert sorted(meta(base + "security-groups").split("\n")) == names
    listing = meta("").split("\n")
    interface = meta(base).split("\n")
    if public:
        assert meta("public-ipv4") == ec2["PublicIpAddress"] == meta(base + "public-ipv4s")
        assert meta("public-hostname") == ec2["PublicDnsName"] == meta(base + "public-hostname")
        assert meta(base + f"ipv4-associations/{ec2['PublicIpAddress']}") == ec2["PrivateIpAddress"]
        assert {"public-ipv4", "public-hostname"} <= set(listing)
    else:
        assert "PublicIpAddress" not in ec2
        assert not {"public-ipv4", "public-hostname"} & set(listing)
        assert not {"public-ipv4s", "public-hostname", "ipv4-associations/"} & set(interface)
        for path in ("public-ipv4", "public-hostname", base + "public-ipv4s"):
            assert get("/latest/meta-data/" + path)[0] == 404, path

    document = json.loads(get("/latest/dynamic/instance-identity/document")[1])
    assert document["instanceId"] == ec2["InstanceId"]
    assert document["imageId"] == ec2["ImageId"]
    assert document["instanceType"] == ec2["InstanceType"]
    assert document["privateIp"] == ec2["PrivateIpAddress"]
    assert document["availabilityZone"] == ec2["Placement"]["AvailabilityZone"]
    assert document["architecture"] == ec2["Architecture"]
    assert document["accountId"] == sandbox.account_id == ec2["NetworkInterfaces"][0]["OwnerId"]
    launched = datetime.fromisoformat(ec2["LaunchTime"]).astimezone(UTC)
    pending = datetime.strptime(document["pendingTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((launched - pending).total_seconds()) < 1


def test_the_identity_document_is_in_aws_layout_and_verifies_with_openssl(account, imds, tmp_path):
    """Instance identity documents: AWS's keys in AWS's order, four-space indent and ' : '; the
    base64 signature, pkcs7 and rsa2048 verify with openssl as "Verify the instance identity
    document" shows (against LearnLab's certificate, carried in the PKCS #7, not AWS's)."""
    instance_id = _launch(account)
    get = imds(account["sandbox"], instance_id)
    status, document, headers = get("/latest/dynamic/instance-identity/document")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    values = json.loads(document)
    assert list(values) == [
        "devpayProductCodes", "marketplaceProductCodes", "availabilityZone", "privateIp",
        "version", "instanceId", "billingProducts", "instanceType", "accountId", "imageId",
        "pendingTime", "architecture", "kernelId", "ramdiskId", "region",
    ]  # fmt: skip
    assert document.split("\n")[1] == '    "devpayProductCodes" : null,'
    assert values["version"] == "2017-09-30" and values["region"] == "us-east-1"
    (tmp_path / "document").write_text(document)
    pem = get("/latest/dynamic/instance-identity/rsa2048")[1]
    assert max(len(line) for line in pem.split("\n")) == 64
    for name in ("rsa2048", "pkcs7"):
        body = get(f"/latest/dynamic/instance-identity/{name}")[1]
        (tmp_path / name).write_text(f"-----BEGIN PKCS7-----\n{body}\n-----END PKCS7-----\n")
    certs = subprocess.run(
        ["openssl", "pkcs7", "-in", tmp_path / "rsa2048", "-print_certs"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "LearnLab instance identity (not AWS)" in certs.stdout
    (tmp_path / "certificate").write_text(certs.stdout)
    for name in ("rsa2048", "pkcs7"):
        verified = subprocess.run(
            ["openssl", "smime", "-verify", "-in", tmp_path / name, "-inform", "PEM",
             "-content", tmp_path / "document", "-certfile", tmp_path / "certificate",
             "-noverify"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert verified.returncode == 0 and "Verification successful" in verified.stderr, (
            verified.stderr
        )
    # The base64 signature, checked against the certificate's public key.
    certificate = x509.load_pem_x509_certificate(certs.stdout.encode())
    signature = base64.b64decode(get("/latest/dynamic/instance-identity/signature")[1])
    certificate.public_key().verify(
        signature, document.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    tampered = document.replace(instance_id, "i-0123456789abcdef0").encode()
    with pytest.raises(InvalidSignature):
        certificate.public_key().verify(signature, tampered, padding.PKCS1v15(), hashes.SHA256())
    assert get("/latest/dynamic/fws/instance-monitoring")[1] == "disabled"


def test_identity_credentials_have_aws_format_and_the_gate_refuses_them(account, imds, aws):
    """Instance metadata categories: identity-credentials/ec2/info and .../ec2-instance, the
    credentials document's format (Retrieve security credentials from instance metadata); AWS
    reserves them for itself, so in the lab they authorize nothing: AWS's InvalidClientTokenId."""
    sandbox = account["sandbox"]
    get = imds(sandbox, _launch(account))
    info = get("/latest/meta-data/identity-credentials/ec2/info")[1]
    assert json.loads(info)["AccountId"] == sandbox.account_id
    assert list(json.loads(info)) == ["Code", "LastUpdated", "AccountId"]
    body = get("/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance")[1]
    credentials = json.loads(body)
    assert body == _document(credentials)
    assert list(credentials) == [
        "Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"
    ]  # fmt: skip
    assert credentials["Code"] == "Success" and credentials["AccessKeyId"].startswith("ASIA")
    assert len(credentials["AccessKeyId"]) == 20 and len(credentials["SecretAccessKey"]) == 40
    for command in (("sts", "get-caller-identity"), ("ec2", "describe-instances")):
        result = aws(
            *command,
            key_id=credentials["AccessKeyId"],
            secret=credentials["SecretAccessKey"],
            token=credentials["Token"],
        )
        assert result.returncode != 0
        assert "InvalidClientTokenId" in result.stderr or "AuthFailure" in result.stderr, (
            result.stderr
        )


def test_instance_metadata_tags_appear_once_allowed(account, imds, aws):
    """Work with instance tags in instance metadata: tags/ only with InstanceMetadataTags
    enabled (modify-instance-metadata-options), keys one per line, each key's value."""
    sandbox = account["sandbox"]
    instance_id = _launch(
        account,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "team", "Value": "blue"}],
            }
        ],
    )
    get = imds(sandbox, instance_id)
    assert "tags/" not in get("/latest/meta-data/")[1].split("\n")
    assert get("/latest/meta-data/tags/instance")[0] == 404
    aws(
        "ec2", "modify-instance-metadata-options", "--instance-id", instance_id,
        "--instance-metadata-tags", "enabled", sandbox=sandbox, check=True,
    )  # fmt: skip
    assert "tags/" in get("/latest/meta-data/")[1].split("\n")
    assert get("/latest/meta-data/tags/instance")[1] == "Name\nteam"
    assert get("/latest/meta-data/tags/instance/team")[1] == "blue"
    assert get("/latest/meta-data/tags/instance/nobody")[0] == 404


def test_user_data_is_raw_octets_and_404_without_any(account, imds):
    """Work with instance user data: raw, application/octet-stream; 404 when none was given.
    Bytes that are not UTF-8 (gzip'd cloud-init) leave the rest of the tree answering."""
    sandbox = account["sandbox"]
    plain = imds(sandbox, _launch(account))
    assert plain("/latest/")[1] == "dynamic\nmeta-data"
    assert plain("/latest/user-data")[0] == 404
    script = "#!/bin/bash\necho héllo"
    given = imds(sandbox, _launch(account, UserData=script))
    status, body, headers = given("/latest/user-data")
    assert (status, body) == (200, script)
    assert headers["content-type"] == "application/octet-stream"
    binary = b"\x1f\x8b\x08\x00\xff\xfe binary"
    instance_id = account["ec2"].run_instances(
        ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        UserData=binary,
    )["Instances"][0]["InstanceId"]  # fmt: skip
    gzipped = imds(sandbox, instance_id)
    assert gzipped("/latest/meta-data/instance-id")[:2] == (200, instance_id)
    assert gzipped("/latest/user-data")[0] == 200


def test_botocore_reads_the_tree_with_its_own_fetchers(account, imds):
    """botocore's IMDS fetchers (botocore/utils.py: IMDSFetcher, InstanceMetadataRegionFetcher,
    InstanceMetadataFetcher) against the live service, with IMDSv2 required."""
    sandbox = account["sandbox"]
    instance_id = _launch(
        account, IamInstanceProfile={"Name": "web"}, MetadataOptions={"HttpTokens": "required"}
    )
    base_url = imds(sandbox, instance_id).base
    assert InstanceMetadataRegionFetcher(base_url=base_url).retrieve_region() == "us-east-1"
    credentials = InstanceMetadataFetcher(base_url=base_url).retrieve_iam_role_credentials()
    assert credentials["role_name"] == "web" and credentials["access_key"].startswith("ASIA")
    fetcher = IMDSFetcher(base_url=base_url)
    token = fetcher._fetch_metadata_token()
    assert token
    for path, expected in (
        ("/latest/meta-data/services/partition", "aws"),
        ("/latest/meta-data/instance-id", instance_id),
    ):
        response = fetcher._get_request(path, None, token=token)
        assert response.status_code == 200 and response.text == expected
    document = fetcher._get_request("/latest/dynamic/instance-identity/document", None, token)
    assert json.loads(document.text)["instanceId"] == instance_id


def test_iam_info_shows_the_profile_id_iam_shows(account, imds):
    """AWS's troubleshooting step (IAM guide troubleshoot_iam-ec2: "compare the
    InstanceProfileId from IAM with the one from EC2"): iam/info's id is IAM's once IAM's ids
    are AWS-shaped (AIPA...), and AIPA-shaped, 21 characters, either way."""
    sandbox = account["sandbox"]
    get = imds(sandbox, _launch(account, IamInstanceProfile={"Name": "web"}))
    info = json.loads(get("/latest/meta-data/iam/info")[1])
    iam_id = account["iam"].get_instance_profile(InstanceProfileName="web")["InstanceProfile"][
        "InstanceProfileId"
    ]
    assert info["InstanceProfileId"].startswith("AIPA") and len(info["InstanceProfileId"]) == 21
    if iam_id.startswith("AIPA"):
        assert info["InstanceProfileId"] == iam_id

"""What the gate forwards: the four services the lab uses, and in them the operations a learner
exploring instance roles would call. Everything else is refused before it reaches moto.

moto serves every AWS service it knows, and some of them reach outside the sandbox (SNS HTTP
subscriptions POST to any URL) or across accounts, so the gate names what it offers rather than
what it refuses. Generous within IAM, EC2, STS and S3; never S3 multipart uploads (the gate's
5 MiB body cap means the CLI never needs them, and moto draws their ids from ``os.urandom``, which
a replay cannot reproduce).
"""

from learnlab.lib import aws_errors

SERVICES = ("iam", "ec2", "sts", "s3")

IAM = frozenset(
    """
    AddRoleToInstanceProfile AddUserToGroup AttachGroupPolicy AttachRolePolicy AttachUserPolicy
    CreateAccessKey CreateGroup CreateInstanceProfile CreatePolicy CreatePolicyVersion CreateRole
    CreateServiceLinkedRole CreateUser DeleteAccessKey DeleteGroup DeleteGroupPolicy
    DeleteInstanceProfile DeletePolicy DeletePolicyVersion DeleteRole
    DeleteRolePermissionsBoundary DeleteRolePolicy DeleteServiceLinkedRole DeleteUser
    DeleteUserPermissionsBoundary DeleteUserPolicy DetachGroupPolicy DetachRolePolicy
    DetachUserPolicy GenerateCredentialReport GenerateServiceLastAccessedDetails
    GetAccessKeyLastUsed GetAccountAuthorizationDetails GetAccountSummary
    GetContextKeysForCustomPolicy GetContextKeysForPrincipalPolicy GetCredentialReport GetGroup
    GetGroupPolicy GetInstanceProfile GetPolicy GetPolicyVersion GetRole GetRolePolicy
    GetServiceLastAccessedDetails GetServiceLastAccessedDetailsWithEntities
    GetServiceLinkedRoleDeletionStatus GetUser GetUserPolicy ListAccessKeys
    ListAttachedGroupPolicies ListAttachedRolePolicies ListAttachedUserPolicies
    ListEntitiesForPolicy ListGroupPolicies ListGroups ListGroupsForUser ListInstanceProfileTags
    ListInstanceProfiles ListInstanceProfilesForRole ListPolicies
    ListPoliciesGrantingServiceAccess ListPolicyTags ListPolicyVersions ListRolePolicies
    ListRoleTags ListRoles ListUserPolicies ListUserTags ListUsers PutGroupPolicy
    PutRolePermissionsBoundary PutRolePolicy PutUserPermissionsBoundary PutUserPolicy
    RemoveRoleFromInstanceProfile RemoveUserFromGroup SetDefaultPolicyVersion
    SimulateCustomPolicy SimulatePrincipalPolicy TagInstanceProfile TagPolicy TagRole TagUser
    UntagInstanceProfile UntagPolicy UntagRole UntagUser UpdateAccessKey UpdateAssumeRolePolicy
    UpdateGroup UpdateRole UpdateRoleDescription UpdateUser
    """.split()  # noqa: SIM905 (a list to read, not to diff word by word)
)

STS = frozenset("AssumeRole DecodeAuthorizationMessage GetCallerIdentity GetSessionToken".split())  # noqa: SIM905

EC2 = frozenset(
    """
    AcceptVpcPeeringConnection AllocateAddress AssociateAddress AssociateDhcpOptions
    AssociateIamInstanceProfile AssociateRouteTable AssociateSubnetCidrBlock AssociateVpcCidrBlock
    AttachInternetGateway AttachNetworkInterface AttachVolume AuthorizeSecurityGroupEgress
    AuthorizeSecurityGroupIngress CopyImage CopySnapshot CreateDhcpOptions
    CreateEgressOnlyInternetGateway CreateImage CreateInternetGateway CreateKeyPair
    CreateLaunchTemplate CreateLaunchTemplateVersion CreateManagedPrefixList CreateNatGateway
    CreateNetworkAcl CreateNetworkAclEntry CreateNetworkInterface CreateRoute CreateRouteTable
    CreateSecurityGroup CreateSnapshot CreateSnapshots CreateSubnet CreateTags CreateVolume
    CreateVpc CreateVpcEndpoint CreateVpcPeeringConnection DeleteDhcpOptions
    DeleteEgressOnlyInternetGateway DeleteInternetGateway DeleteKeyPair DeleteLaunchTemplate
    DeleteLaunchTemplateVersions DeleteManagedPrefixList DeleteNatGateway DeleteNetworkAcl
    DeleteNetworkAclEntry DeleteNetworkInterface DeleteRoute DeleteRouteTable DeleteSecurityGroup
    DeleteSnapshot DeleteSubnet DeleteTags DeleteVolume DeleteVpc DeleteVpcEndpoints
    DeleteVpcPeeringConnection DeregisterImage DescribeAccountAttributes DescribeAddresses
    DescribeAvailabilityZones DescribeDhcpOptions DescribeEgressOnlyInternetGateways
    DescribeIamInstanceProfileAssociations DescribeImageAttribute DescribeImages
    DescribeInstanceAttribute DescribeInstanceCreditSpecifications DescribeInstanceStatus
    DescribeInstanceTypeOfferings DescribeInstanceTypes DescribeInstances
    DescribeInternetGateways DescribeKeyPairs DescribeLaunchTemplateVersions
    DescribeLaunchTemplates DescribeManagedPrefixLists DescribeNatGateways DescribeNetworkAcls
    DescribeNetworkInterfaceAttribute DescribeNetworkInterfaces DescribePrefixLists
    DescribeRegions DescribeRouteTables DescribeSecurityGroupReferences
    DescribeSecurityGroupRules DescribeSecurityGroups DescribeSnapshotAttribute
    DescribeSnapshots DescribeStaleSecurityGroups DescribeSubnets DescribeTags
    DescribeVolumeAttribute DescribeVolumeStatus DescribeVolumes DescribeVpcAttribute
    DescribeVpcEndpoints DescribeVpcPeeringConnections DescribeVpcs DetachInternetGateway
    DetachNetworkInterface DetachVolume DisassociateAddress DisassociateIamInstanceProfile
    DisassociateRouteTable DisassociateSubnetCidrBlock DisassociateVpcCidrBlock GetConsoleOutput
    GetDefaultCreditSpecification GetEbsEncryptionByDefault GetPasswordData ImportKeyPair
    ModifyDefaultCreditSpecification ModifyImageAttribute ModifyInstanceAttribute
    ModifyInstanceMetadataOptions ModifyInstancePlacement ModifyLaunchTemplate
    ModifyManagedPrefixList ModifyNetworkInterfaceAttribute ModifySecurityGroupRules
    ModifySnapshotAttribute ModifySubnetAttribute ModifyVolume ModifyVolumeAttribute
    ModifyVpcAttribute ModifyVpcEndpoint MonitorInstances RebootInstances RegisterImage
    RejectVpcPeeringConnection ReleaseAddress ReplaceIamInstanceProfileAssociation
    ReplaceNetworkAclAssociation ReplaceNetworkAclEntry ReplaceRoute ReplaceRouteTableAssociation
    ResetImageAttribute ResetInstanceAttribute ResetNetworkInterfaceAttribute
    ResetSnapshotAttribute RevokeSecurityGroupEgress RevokeSecurityGroupIngress RunInstances
    StartInstances StopInstances TerminateInstances UnmonitorInstances
    UpdateSecurityGroupRuleDescriptionsEgress UpdateSecurityGroupRuleDescriptionsIngress
    """.split()  # noqa: SIM905 (a list to read, not to diff word by word)
)

QUERY_ACTIONS = {"iam": IAM, "sts": STS, "ec2": EC2}

# S3 picks its operation from the method and which of these query keys are present (moto's S3
# dispatch looks for the same keys), so the keys a request may carry are its allowlist.
S3_SUBRESOURCES = {
    "acl": "ACLs",
    "cors": "CORS configuration",
    "delete": "DeleteObjects",
    "encryption": "default encryption",
    "lifecycle": "lifecycle configuration",
    "location": "GetBucketLocation",
    "ownershipControls": "object ownership",
    "policy": "bucket policies",
    "policyStatus": "GetBucketPolicyStatus",
    "publicAccessBlock": "public access blocks",
    "tagging": "tagging",
    "versioning": "versioning",
    "versions": "ListObjectVersions",
    "website": "website configuration",
}
S3_LIST_PARAMETERS = frozenset(
    """
    list-type prefix delimiter encoding-type max-keys marker continuation-token start-after
    fetch-owner key-marker version-id-marker versionId max-buckets bucket-region x-id
    response-cache-control response-content-disposition response-content-encoding
    response-content-language response-content-type response-expires
    """.split()  # noqa: SIM905 (a list to read, not to diff word by word)
)
S3_MULTIPART = frozenset({"uploads", "uploadId", "partNumber"})
S3_CONTROL_PREFIX = "/v20180820"  # moto routes these to S3 Control, another service


def check_service(service: str) -> None:
    if service not in SERVICES:
        raise aws_errors.service_not_offered()


def check_query_action(service: str, protocol: str, action: str) -> None:
    if action not in QUERY_ACTIONS[service]:
        raise aws_errors.invalid_action(protocol, action)


def check_s3(method: str, path: str, query_keys: list[str]) -> None:
    """S3: the bucket and object operations (and their configuration) the lab needs."""
    if path.startswith(S3_CONTROL_PREFIX):
        raise aws_errors.invalid_action("rest-xml", "S3 Control API")
    for key in query_keys:
        if key in S3_MULTIPART:
            raise aws_errors.AwsError(
                "InvalidRequest",
                "This LearnLab sandbox does not offer multipart uploads: objects up to 5 MiB "
                "go in a single PutObject.",
                400,
            )
        if key not in S3_SUBRESOURCES and key not in S3_LIST_PARAMETERS:
            raise aws_errors.invalid_action("rest-xml", f"?{key} subresource")
    if method == "POST" and "delete" not in query_keys:
        raise aws_errors.invalid_action("rest-xml", "POST uploads")
